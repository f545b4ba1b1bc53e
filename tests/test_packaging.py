"""The build contains every package, imports under one namespace, and installs non-editably in CI."""
import importlib
import os
import tomllib

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
