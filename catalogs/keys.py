"""Content addresses: artifact keys and file digests (code versions: ``code_closure``)."""
import hashlib
import json
from pathlib import Path

KEY_LENGTH = 16


def canonical_json(value) -> str:
    """JSON with sorted keys and no whitespace, so equal values hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical_floats(value):
    """``value`` with every float replaced by its exact hex form, tagged, so equal content hashes equally
    whatever decimal text a JSON writer chose and 1 (an int) stays distinct from 1.0."""
    if isinstance(value, dict):
        return {str(k): canonical_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_floats(v) for v in value]
    if isinstance(value, float):
        return {"$float": value.hex()}
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # a numpy scalar or array (numpy not imported here)
        return canonical_floats(value.tolist())
    return value


def content_hash(value) -> str:
    """A KEY_LENGTH hex address of JSON-like content, floats encoded exactly (NaN and infinities too)."""
    payload = canonical_json(canonical_floats(value))
    return hashlib.sha256(payload.encode()).hexdigest()[:KEY_LENGTH]


def artifact_key(stage: str, config: dict, inputs: dict[str, str], code: str) -> str:
    """Hash of everything a stage's output depends on: its name, config subset, input keys, code."""
    payload = canonical_json({"stage": stage, "config": config, "inputs": inputs, "code": code})
    return hashlib.sha256(payload.encode()).hexdigest()[:KEY_LENGTH]


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, or of every file below a folder with its relative name (user data inputs)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
