"""A stage's code version, derived from what its code imports rather than from a hand-kept list.

The closure is read from the source with ``ast`` (nothing is imported: no torch, prefect or numba), starting
at the stage's task module and its component, following every ``symdistill`` import (function-level ones too)
and the ``__init__`` of each package on the way, since importing a module runs them. Orchestration modules
are not followed: they decide when a stage runs, not what it computes. The versions of the third-party
distributions the closure imports, and Python's own, are part of the version.
"""
import ast
import hashlib
import importlib.metadata
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from symdistill.catalogs.keys import KEY_LENGTH, content_hash

PACKAGE = "symdistill"
SOURCE_ROOT = Path(__file__).resolve().parents[1]  # holds catalogs/, components/, ... (symdistill.<layer>)
# Modules that schedule, key, report or configure stages; their edits cannot change an artifact
# (a changed config default already changes the config part of the key).
ORCHESTRATION = ("symdistill.flows", "symdistill.config", "symdistill.tasks.context", "symdistill.tasks.plan",
                 "symdistill.tasks.status", "symdistill.tasks.dask_cluster", "symdistill.tasks.stages",
                 "symdistill.tasks.run", "symdistill.tasks.preflight", "symdistill.catalogs.code_closure")
# Third-party orchestration: where and when a stage runs (a task wrapper, a Dask cluster), not its result.
ORCHESTRATION_PACKAGES = frozenset({"prefect", "dask", "distributed"})


@dataclass(frozen=True)
class CodeVersion:
    """``digest`` goes into the artifact key; ``modules`` (path -> file hash) and ``packages`` (name ->
    version) go into provenance so ``status`` can name what changed."""

    digest: str
    modules: dict
    packages: dict

    def manifest(self) -> dict:
        return {"modules": self.modules, "packages": self.packages}


def stage_code_version(stage: str, root: Path | None = None) -> CodeVersion:
    """The code version of ``stage``: its task module, its component, and everything they import."""
    root = Path(root) if root is not None else SOURCE_ROOT
    entries = [f"{PACKAGE}.tasks.{stage}", f"{PACKAGE}.components.{stage}"]
    files, third_party = import_closure([e for e in entries if _module_file(root, e) is not None], root)
    modules = {str(path.relative_to(root)): _file_hash(path) for path in files}
    packages = {"python": "%d.%d.%d" % sys.version_info[:3], **distribution_versions(third_party)}
    return CodeVersion(content_hash({"modules": modules, "packages": packages}), modules, packages)


def import_closure(entry_modules: list[str], root: Path) -> tuple[list[Path], set[str]]:
    """(project source files, top-level third-party module names) reachable from ``entry_modules``."""
    seen: dict[str, Path] = {}
    third_party: set[str] = set()
    pending = list(entry_modules)
    while pending:
        name = pending.pop()
        if name in seen or _is_orchestration(name):
            continue
        path = _module_file(root, name)
        if path is None:
            continue
        seen[name] = path
        pending.extend(_parent_packages(name))
        for imported in _imports(path, name, path.name == "__init__.py"):
            if imported == PACKAGE or imported.startswith(PACKAGE + "."):
                pending.append(imported)
            else:
                top = imported.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ORCHESTRATION_PACKAGES and top != "__future__":
                    third_party.add(top)
    return sorted(set(seen.values())), third_party


def distribution_versions(top_level_modules: set[str]) -> dict[str, str]:
    """Installed version of the distribution that provides each top-level module."""
    versions = {}
    for module in sorted(top_level_modules):
        try:  # nearly always the distribution has the module's name; the full map costs ~0.5 s
            versions[module.lower()] = importlib.metadata.version(module)
            continue
        except importlib.metadata.PackageNotFoundError:
            pass
        for dist in _providers().get(module, []) or [module]:
            try:
                versions[dist.lower()] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                versions[dist.lower()] = "not installed"
    return versions


def _imports(path: Path, module: str, is_package: bool) -> tuple[str, ...]:
    """Every module name ``path`` imports, with ``from a import b`` giving both ``a`` and ``a.b``
    (``b`` may be a submodule; a name that is not a file is dropped later)."""
    stat = path.stat()
    return _imports_cached(path, stat.st_mtime_ns, stat.st_size, module, is_package)


@lru_cache(maxsize=1024)
def _imports_cached(path: Path, mtime_ns: int, size: int, module: str, is_package: bool) -> tuple[str, ...]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return tuple(names)


def _module_file(root: Path, name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parent_packages(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def _is_orchestration(name: str) -> bool:
    return any(name == o or name.startswith(o + ".") for o in ORCHESTRATION)


def _file_hash(path: Path) -> str:
    # a plan hashes each stage's closure, and most modules are in several closures: read each file once
    stat = path.stat()
    return _file_hash_cached(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _file_hash_cached(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:KEY_LENGTH]


@lru_cache(maxsize=1)
def _providers() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()
