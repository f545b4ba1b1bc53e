#!/usr/bin/env python3
"""Set-up and everyday commands on a fresh machine that has Python 3.11 (the README's two commands).

    python3.11 dev.py run [CONFIG] [symdistill run options]   install if needed, then run an experiment
    python3.11 dev.py test [pytest options]                    install if needed, then run the test suite

Installs into .venv: the pinned dependencies when pyproject.toml changes, and symdistill itself (a normal,
non-editable install, as users get it) when any source file changes; otherwise it starts at once.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"  # made by pip-compile from pyproject.toml; see the README
BIN = VENV / "bin"
SOURCE_DIRS = ("flows", "tasks", "components", "catalogs", "config")
DEFAULT_EXPERIMENT = "config/spring2d.toml"
PIP = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check")


def digest(paths) -> str:
    hasher = hashlib.sha256()
    for path in sorted(paths):
        hasher.update(str(path.relative_to(ROOT)).encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


def up_to_date(stamp: Path, value: str) -> bool:
    return stamp.exists() and stamp.read_text() == value


def ensure_installed() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"dev.py needs Python 3.11 (this is {sys.version.split()[0]}): run it as python3.11 dev.py ...")
    python = BIN / "python"
    if not python.exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    pyproject = ROOT / "pyproject.toml"
    deps_stamp, deps_hash = VENV / ".deps-hash", digest([pyproject, LOCK])
    if not up_to_date(deps_stamp, deps_hash):
        print("installing the locked dependencies into .venv (a few minutes, once) ...", flush=True)
        # every transitive pin with its hashes, so next month's machine installs exactly these
        subprocess.run([python, *PIP, "--require-hashes", "--no-deps", "-r", str(LOCK)], check=True)
        deps_stamp.write_text(deps_hash)
    sources = [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".toml")]
    install_stamp, install_hash = VENV / ".install-hash", digest(sources + [pyproject])
    if not up_to_date(install_stamp, install_hash):
        print("installing symdistill into .venv ...", flush=True)
        subprocess.run([python, *PIP, "--no-deps", "--no-build-isolation", "--force-reinstall", str(ROOT)],
                       check=True, cwd=ROOT)
        shutil.rmtree(ROOT / "build", ignore_errors=True)
        # numba's on-disk cache checks only the compiled function's own file: a kernel that inlines one from
        # an edited module would load stale machine code, so every cached kernel is dropped on reinstall
        for cached in VENV.glob("lib/python3.11/site-packages/symdistill/**/__pycache__/*.nb[ic]"):
            cached.unlink()
        install_stamp.write_text(install_hash)


def ensure_browser() -> None:
    """The report test opens the HTML report in headless Chromium, from the OS packages (Debian: chromium)."""
    if shutil.which("chromium") or not shutil.which("apt-get"):
        return
    print("installing chromium from the OS packages (for the report test) ...", flush=True)
    sudo = [] if hasattr(os, "geteuid") and os.geteuid() == 0 else ["sudo", "-n"]
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    if subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "chromium"], **quiet).returncode:
        subprocess.run([*sudo, "apt-get", "update", "-q"], **quiet)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "chromium"], **quiet)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    ensure_installed()
    command, rest = argv[0], argv[1:]
    if command == "run":
        if not rest or rest[0].startswith("-"):
            rest = [DEFAULT_EXPERIMENT, *rest]
        return subprocess.run([BIN / "symdistill", "run", *rest], cwd=ROOT).returncode
    ensure_browser()
    # From tests/, so the repository root is not on sys.path and the installed package is what is tested.
    return subprocess.run([BIN / "python", "-m", "pytest", "-q", "--durations=20", *rest], cwd=ROOT / "tests").returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
