"""What a wheel ships: every package of the source tree (setuptools takes the list in
pyproject.toml as given, and an editable install hides a missing one)."""

from __future__ import annotations

import tomllib
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
