"""Everything that persists: the content-addressed Zarr artifact store and readers of user data files."""
from symdistill.catalogs.datasets import read_dataset_file
from symdistill.catalogs.keys import artifact_key, code_version, file_digest
from symdistill.catalogs.summary import summarize
from symdistill.catalogs.store import (
    ArtifactError,
    ArtifactRef,
    ArtifactStore,
    CorruptArtifactError,
    MissingArtifactError,
)

__all__ = [
    "read_dataset_file",
    "summarize",
    "ArtifactError",
    "ArtifactRef",
    "ArtifactStore",
    "CorruptArtifactError",
    "MissingArtifactError",
    "artifact_key",
    "code_version",
    "file_digest",
]
