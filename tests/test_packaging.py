"""What a wheel ships: every package of the source tree (setuptools takes the list in
pyproject.toml as given, and an editable install hides a missing one)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_of_the_tree_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "scanner").rglob("__init__.py")
    }
    migrations = {name for name in listed if name.startswith("scanner.migrations")}
    assert listed - migrations == on_disk
    assert config["package-dir"]["scanner.migrations"] == "migrations"


def test_every_data_file_of_the_package_is_shipped() -> None:
    """A file the package reads at run time (the recorded schema, the report template)
    is matched by a package-data pattern of its own package."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    files = [
        path
        for path in (ROOT / "scanner").rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert any(path.name == "head_schema.json" for path in files)
    for path in files:
        package = ".".join(path.parent.relative_to(ROOT).parts)
        patterns = data.get(package, [])
        assert any(fnmatch(path.name, pattern) for pattern in patterns), path
