"""Hand-off bundles: one catalog entry as a zip of JSON and plain .npy arrays, with sha256 checksums.

A bundle carries no pickle and no code. Reading one trusts nothing: member names, sizes, kinds,
nesting, checksums, the entry's schema and every operator name are checked before anything is
returned, and the expression and LaTeX are rebuilt from the validated programs, never taken as text.
"""
import hashlib
import io
import json
import keyword
import stat
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from symdistill.catalogs.equations import ENTRY_FIELDS, STATUSES, content_id
from symdistill.catalogs.programs import composition_arrays, composition_from_arrays, render

BUNDLE_FORMAT, BUNDLE_VERSION = "symdistill-bundle", 1
MAX_BUNDLE_BYTES = 64 << 20
MAX_MEMBER_BYTES = 16 << 20
MAX_MEMBERS = 512
MAX_PATH_DEPTH = 4
MAX_JSON_DEPTH = 32
MAX_COMPRESSION_RATIO = 200  # a member inflating more than this is a zip bomb, not an equation
ARRAY_FIELDS = ("args", "values")


class BundleError(ValueError):
    """A bundle that cannot be imported, with the reason; nothing was changed."""


def write_bundle(entry: dict, path: str | Path) -> Path:
    """Write ``entry`` (as the catalog returns it) to ``path``; programs go into .npy arrays."""
    path = Path(path)
    meta = {name: entry[name] for name in ENTRY_FIELDS if name != "program"}
    meta["tags"] = list(entry.get("tags", []))
    program = entry["program"]
    meta["program"] = {k: v for k, v in program.items() if k != "functions"}
    meta["program"]["functions"] = {}
    members: dict[str, bytes] = {}
    for function, arrays in program["functions"].items():
        meta["program"]["functions"][function] = {"operators": arrays["operators"]}
        members[f"arrays/{function}/args.npy"] = _npy(np.asarray(arrays["args"], dtype=np.int64))
        members[f"arrays/{function}/values.npy"] = _npy(np.asarray(arrays["values"], dtype=np.float64))
    members["entry.json"] = json.dumps(meta, indent=1, sort_keys=True).encode()
    manifest = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
                "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                          for name, data in sorted(members.items())}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
        for name, data in sorted(members.items()):
            archive.writestr(name, data)
    tmp.replace(path)
    return path


def read_bundle(path: str | Path) -> dict:
    """The validated entry of a bundle (tags included); raises BundleError naming the first problem."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no such bundle file")
    if path.stat().st_size > MAX_BUNDLE_BYTES:
        raise BundleError(f"{path}: {path.stat().st_size} bytes; a bundle may have at most {MAX_BUNDLE_BYTES}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _safe_members(archive)
            files = {name: _read_member(archive, info) for name, info in members.items()}
    except zipfile.BadZipFile as err:
        raise BundleError(f"{path}: not a zip bundle ({err})") from None
    try:
        return _entry_from_files(files)
    except BundleError as err:
        raise BundleError(f"{path}: {err}") from None


def _safe_members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise BundleError(f"{len(infos)} members; at most {MAX_MEMBERS} are allowed")
    members = {}
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name).parts
        if (name.startswith("/") or "\\" in name or ":" in name or ".." in parts or not parts
                or any(p in ("", ".") for p in name.split("/"))):
            raise BundleError(f"member {name!r}: unsafe path (absolute, '..', drive or backslash)")
        if len(parts) > MAX_PATH_DEPTH:
            raise BundleError(f"member {name!r}: nested {len(parts)} deep; at most {MAX_PATH_DEPTH} levels")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode) or info.is_dir():
            raise BundleError(f"member {name!r}: {'a symlink' if stat.S_ISLNK(mode) else 'a directory'}; "
                              "only regular files are allowed")
        if info.file_size > MAX_MEMBER_BYTES:
            raise BundleError(f"member {name!r}: {info.file_size} bytes; at most {MAX_MEMBER_BYTES}")
        if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            raise BundleError(f"member {name!r}: compressed {info.file_size / info.compress_size:.0f}:1, "
                              f"above {MAX_COMPRESSION_RATIO}:1 (a zip bomb?)")
        if name in members:
            raise BundleError(f"member {name!r} appears twice")
        members[name] = info
    return members


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    with archive.open(info) as handle:  # read with a cap: the header's size may lie
        data = handle.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise BundleError(f"member {info.filename!r} inflates past {MAX_MEMBER_BYTES} bytes")
    return data


def _entry_from_files(files: dict[str, bytes]) -> dict:
    if "manifest.json" not in files:
        raise BundleError("no manifest.json; not a symdistill bundle")
    manifest = _json(files["manifest.json"], "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"manifest.json: format is not {BUNDLE_FORMAT!r}")
    if manifest.get("version") != BUNDLE_VERSION:
        raise BundleError(f"manifest.json: version {manifest.get('version')!r}; this symdistill reads {BUNDLE_VERSION}")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise BundleError("manifest.json: 'files' must map member names to checksums")
    unlisted = sorted(set(files) - set(listed) - {"manifest.json"})
    missing = sorted(set(listed) - set(files))
    if unlisted or missing:
        raise BundleError(f"members and manifest disagree: unlisted {unlisted}, missing {missing}")
    for name, expected in listed.items():
        digest = hashlib.sha256(files[name]).hexdigest()
        if not isinstance(expected, dict) or expected.get("sha256") != digest:
            raise BundleError(f"member {name!r}: checksum mismatch (corrupt or altered)")
    if "entry.json" not in files:
        raise BundleError("no entry.json")
    meta = _json(files["entry.json"], "entry.json")
    entry = _check_schema(meta)
    program = meta["program"]
    for function, spec in program["functions"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("operators"), list):
            raise BundleError(f"entry.json: function {function!r} needs an 'operators' list")
        for field in ARRAY_FIELDS:
            name = f"arrays/{function}/{field}.npy"
            if name not in files:
                raise BundleError(f"function {function!r}: member {name!r} is missing")
            spec[field] = _array(files[name], name, np.int64 if field == "args" else np.float64).tolist()
    try:
        composition, latent = composition_from_arrays(program)
    except (ValueError, TypeError) as err:  # ProgramError, unknown operators, non-numbers
        raise BundleError(f"entry.json: program: {err}") from None
    entry["program"] = composition_arrays(composition, latent, list(program["functions"]))
    if entry["kind"] == "function" and len(entry["program"]["functions"]) != 1:
        raise BundleError("entry.json: a function entry holds exactly one program")
    entry["expression"], entry["latex"] = render(entry["program"], entry["kind"])
    if content_id(entry) != entry["id"]:
        raise BundleError(f"entry.json: its content does not match its id {entry['id']} (the content's id is "
                          f"{content_id(entry)}): the entry was altered after export; nothing imported")
    return entry


def _check_schema(meta) -> dict:
    if not isinstance(meta, dict):
        raise BundleError("entry.json must hold one object")
    missing = [name for name in (*ENTRY_FIELDS, "tags") if name not in meta]
    if missing:
        raise BundleError(f"entry.json lacks field(s) {missing}")
    text_fields = ("id", "run_key", "experiment", "function", "expression", "latex", "created")
    for name in text_fields:
        if not isinstance(meta[name], str) or len(meta[name]) > 100_000:
            raise BundleError(f"entry.json: {name!r} must be a string")
    if not (len(meta["id"]) == 16 and all(c in "0123456789abcdef" for c in meta["id"])):
        raise BundleError("entry.json: 'id' must be 16 hex digits")
    if meta["kind"] not in ("composed", "function"):
        raise BundleError("entry.json: 'kind' must be 'composed' or 'function'")
    if meta["status"] not in STATUSES:
        raise BundleError(f"entry.json: 'status' must be one of {', '.join(STATUSES)}")
    for name in ("program", "units", "metrics", "config", "versions"):
        if not isinstance(meta[name], dict):
            raise BundleError(f"entry.json: {name!r} must be an object")
    if not isinstance(meta["lineage"], list) or not meta["lineage"] or not all(
            isinstance(step, dict) and isinstance(step.get("stage"), str) and isinstance(step.get("key"), str)
            for step in meta["lineage"]):
        raise BundleError("entry.json: 'lineage' must be a non-empty list of stage records with 'stage' and 'key'")
    if not isinstance(meta["tags"], list) or not all(isinstance(t, str) for t in meta["tags"]):
        raise BundleError("entry.json: 'tags' must be a list of strings")
    if not isinstance(meta["program"].get("functions"), dict) or not meta["program"]["functions"]:
        raise BundleError("entry.json: the program has no functions")
    names = [("function", meta["function"]), *(("function", f) for f in meta["program"]["functions"]),
             *(("unit", u) for u in meta["units"]),
             *(("feature", f) for key in ("edge_features", "node_features")
               for f in (meta["program"].get(key) if isinstance(meta["program"].get(key), list) else []))]
    for what, name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise BundleError(f"entry.json: {what} name {name!r} is not an identifier (letters, digits, _)")
    return {name: meta[name] for name in (*ENTRY_FIELDS, "tags")}


def _json(data: bytes, name: str):
    try:
        value = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise BundleError(f"{name}: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{name}: not valid UTF-8 JSON ({err})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise BundleError(f"{name}: nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if depth > MAX_JSON_DEPTH:
            break
    return depth


def _array(data: bytes, name: str, dtype) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise BundleError(f"member {name!r}: not a plain .npy array ({err})") from None
    if array.ndim != 1 or array.dtype != np.dtype(dtype):
        raise BundleError(f"member {name!r}: expected a 1-D {np.dtype(dtype)} array, got {array.ndim}-D {array.dtype}")
    return array


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()

