"""The content-addressed artifact store: one Zarr group per stage per key, written atomically.

Layout: ``<root>/<stage>/<key>/`` is a Zarr group holding one subgroup per named xarray Dataset;
its attributes hold ``provenance``, per-variable ``checksums`` and ``complete`` (written last).
A write goes to ``<root>/<stage>/.tmp-<key>-<id>`` and is renamed into place, so a crash never
leaves a group that reads as complete. Consolidated metadata is never used (STACK.md §5).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from symdistill.catalogs.keys import content_hash

if TYPE_CHECKING:
    import xarray as xr
# xarray and zarr are imported where arrays are read or written: planning and `status` only read the
# group metadata (zarr.json), and must stay fast.

TMP_PREFIX = ".tmp-"
REPORTS = "reports"  # the runs' HTML reports, beside the stage groups
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ArtifactRef:
    """Where a stage's output lives: the stage name and its content key."""

    stage: str
    key: str

    def __str__(self) -> str:
        return f"{self.stage}/{self.key}"


class ArtifactError(RuntimeError):
    """Base class of artifact store errors."""


class MissingArtifactError(ArtifactError):
    pass


class CorruptArtifactError(ArtifactError):
    """An artifact's bytes do not match its recorded checksums, or cannot be decoded."""


def variable_checksum(values: np.ndarray) -> str:
    """sha256 over dtype, shape and bytes; strings hash as their JSON list (storage may change their dtype)."""
    values = np.asarray(values)
    digest = hashlib.sha256(str(values.shape).encode())
    if values.dtype.kind in "OUT":
        digest.update(json.dumps([str(v) for v in values.ravel().tolist()]).encode())
    else:
        digest.update(values.dtype.str.encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def content_digest(checksums: dict, attributes: dict) -> str:
    """Content address of an artifact: its variables' checksums and its datasets' attributes."""
    return content_hash({"checksums": checksums, "attrs": attributes})


def dataset_checksums(ds: xr.Dataset) -> dict[str, str]:
    return {str(name): variable_checksum(var.values) for name, var in ds.variables.items()}


def _portable_strings(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width unicode has no Zarr 3 spec; store strings as variable-length ones."""
    fixed = [name for name, var in ds.variables.items() if var.dtype.kind == "U"]
    return ds.assign_coords({n: ds[n].astype(object) for n in fixed if n in ds.coords}).assign(
        {n: ds[n].astype(object) for n in fixed if n in ds.data_vars})


class ArtifactStore:
    """A folder of stage artifacts addressed by ``ArtifactRef``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, ref: ArtifactRef) -> Path:
        return self.root / ref.stage / ref.key

    def _attrs(self, path: Path) -> dict:
        # A Zarr v3 group's attributes are the "attributes" of its zarr.json; read without importing zarr.
        try:
            metadata = json.loads((path / "zarr.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except (ValueError, UnicodeDecodeError) as err:
            raise CorruptArtifactError(f"artifact {path}: unreadable group metadata ({err})") from None
        if not isinstance(metadata, dict) or metadata.get("node_type") != "group":
            raise CorruptArtifactError(f"artifact {path}: zarr.json does not describe a Zarr group")
        attrs = metadata.get("attributes", {})
        return attrs if isinstance(attrs, dict) else {}

    def content(self, ref: ArtifactRef) -> str:
        """The content digest of a complete artifact: equal for artifacts holding the same arrays and attributes,
        whatever key they were computed under (what downstream keys are made of: early cutoff)."""
        attrs = self._attrs(self.path(ref))
        if not attrs.get("complete"):
            raise MissingArtifactError(f"no complete artifact {ref} in {self.root}")
        # artifacts written before content digests: their checksums are all there is
        return attrs.get("content") or content_digest(attrs.get("checksums", {}), {})

    def is_complete(self, ref: ArtifactRef) -> bool:
        return bool(self._attrs(self.path(ref)).get("complete"))

    def provenance(self, ref: ArtifactRef) -> dict:
        attrs = self._attrs(self.path(ref))
        if not attrs.get("complete"):
            raise MissingArtifactError(f"no complete artifact {ref} in {self.root}")
        return attrs["provenance"]

    def artifacts(self, stage: str) -> list[dict]:
        """Provenance of every complete artifact of ``stage``, oldest first."""
        folder = self.root / stage
        found = []
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                attrs = self._attrs(path)
            except CorruptArtifactError:
                continue
            if attrs.get("complete"):
                found.append(attrs["provenance"])
        return sorted(found, key=lambda p: p.get("finished", ""))

    def write(self, ref: ArtifactRef, datasets: Mapping[str, xr.Dataset], provenance: dict) -> ArtifactRef:
        """Write ``datasets`` under ``ref`` atomically, replacing any earlier artifact there."""
        self._ensure_group(self.root)
        self._ensure_group(self.root / ref.stage)
        tmp = self.root / ref.stage / f"{TMP_PREFIX}{ref.key}-{uuid.uuid4().hex[:8]}"
        import zarr

        try:
            group = zarr.open_group(str(tmp), mode="w")
            checksums = {}
            for name, ds in datasets.items():
                ds = _portable_strings(ds)
                ds.to_zarr(str(tmp), group=name, mode="w", consolidated=False)
                checksums[name] = dataset_checksums(ds)
            attributes = {name: ds.attrs for name, ds in datasets.items()}
            group.attrs.update({"format_version": FORMAT_VERSION, "provenance": provenance,
                                "checksums": checksums, "content": content_digest(checksums, attributes)})
            group.attrs["complete"] = True
            self._replace(tmp, self.path(ref))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return ref

    def read(self, ref: ArtifactRef, names: tuple[str, ...] | None = None) -> dict[str, xr.Dataset]:
        """Load the datasets ``names`` of ``ref`` (default: all) into memory and verify their checksums."""
        attrs = self._attrs(self.path(ref))
        if not attrs.get("complete"):
            raise MissingArtifactError(f"no complete artifact {ref} in {self.root}")
        import xarray as xr

        checksums = attrs.get("checksums", {})
        missing = sorted(set(names or ()) - set(checksums))
        if missing:
            raise CorruptArtifactError(f"artifact {ref} has no dataset {', '.join(missing)} (it has "
                                       f"{', '.join(checksums)}); rerun with --repair to recompute it")
        out = {}
        for name, expected in checksums.items():
            if names is not None and name not in names:
                continue
            try:
                ds = xr.open_zarr(str(self.path(ref)), group=name, consolidated=False).load()
            except Exception as err:  # any decoding failure of stored bytes means corruption
                raise CorruptArtifactError(f"artifact {ref}/{name} cannot be read ({type(err).__name__}: {err}); "
                                           f"rerun with --repair to recompute it") from None
            actual = dataset_checksums(ds)
            bad = sorted(k for k in expected if actual.get(k) != expected[k])
            if bad:
                raise CorruptArtifactError(f"artifact {ref}/{name}: checksum mismatch in {', '.join(bad)}; "
                                           f"rerun with --repair to recompute it")
            out[name] = ds
        return out

    def verify(self, ref: ArtifactRef) -> None:
        self.read(ref)

    def remove(self, ref: ArtifactRef) -> None:
        shutil.rmtree(self.path(ref), ignore_errors=True)

    def clean_incomplete(self) -> list[Path]:
        """Remove leftovers of interrupted writes."""
        leftovers = sorted(self.root.glob(f"*/{TMP_PREFIX}*")) + sorted(self.root.glob("*/.old-*"))
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
        return leftovers

    @staticmethod
    def _ensure_group(path: Path) -> None:
        if not (path / "zarr.json").exists():
            import zarr

            zarr.open_group(str(path), mode="a")

    @staticmethod
    def _replace(tmp: Path, final: Path) -> None:
        old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)


CHECKPOINT_PREFIX = ".checkpoint-"
FIGURES = "figures"


def report_path(store: ArtifactStore, experiment: str, run_key: str) -> Path:
    return store.root / REPORTS / f"{experiment}-{run_key}.html"


def export_figures(store: ArtifactStore, ref: ArtifactRef, figures: xr.Dataset) -> list[Path]:
    """Write each PNG of a stage's ``figures`` dataset to ``<store>/figures/<stage>/<key>/`` for people to open."""
    folder = store.root / FIGURES / ref.stage / ref.key
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, var in figures.data_vars.items():
        path = folder / f"{name}.png"
        path.write_bytes(np.asarray(var.values, dtype=np.uint8).tobytes())
        written.append(path)
    return written


def checkpoint_ref(ref: ArtifactRef) -> ArtifactRef:
    """Where a stage keeps its resumable state while it runs: hidden beside the artifact, same atomic writes."""
    return ArtifactRef(ref.stage, f"{CHECKPOINT_PREFIX}{ref.key}")


def read_checkpoint(store: ArtifactStore, ref: ArtifactRef):
    """(datasets, provenance) of the stage's last checkpoint, or None; an unreadable one is discarded."""
    saved = checkpoint_ref(ref)
    if not store.is_complete(saved):
        return None
    try:
        return store.read(saved), store.provenance(saved)
    except ArtifactError:
        store.remove(saved)
        return None
