"""The build contains every package, imports under one namespace, and installs non-editably in CI."""
import importlib
import os
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO

LAYERS = ("flows", "tasks", "components", "catalogs", "config")


def package_folders() -> set[str]:
    found = set()
    for layer in LAYERS:
        for init in (REPO / layer).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO).parts
            found.add(".".join(("symdistill", *relative)))
    return found


def test_every_package_folder_is_listed_in_the_build():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert package_folders() == listed


def test_every_module_imports_from_the_installed_package():
    for layer in LAYERS:
        for path in (REPO / layer).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            importlib.import_module(".".join(("symdistill", *parts)))


def test_ci_runs_against_a_normal_install():
    import symdistill.components

    location = os.path.realpath(symdistill.components.__file__)
    assert "site-packages" in location, f"symdistill imported from {location}, not from an installed copy"


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every pin in requirements.lock."""
    pins, name = {}, None
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            name, version = line.split(" ")[0].split("==")
            pins[canonicalize_name(name)] = (version, [])
        elif line.strip().startswith("--hash=sha256:") and name is not None:
            pins[canonicalize_name(name)][1].append(line.strip().split(":", 1)[1].rstrip(" \\"))
    return pins


def test_the_lock_pins_every_dependency_of_pyproject_with_hashes_and_the_cpu_torch():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    direct = [*project["project"]["dependencies"], *project["project"]["optional-dependencies"]["test"],
              *project["build-system"]["requires"]]
    pins = _locked()
    for text in direct:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in requirements.lock: re-lock"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside pyproject's {requirement.specifier}: re-lock")
    assert all(hashes for _, hashes in pins.values())  # pip --require-hashes needs every one
    assert pins["torch"][0].endswith("+cpu") and not any(name.startswith("nvidia") for name in pins)
