"""`omscan scan --config fleet.toml`: the named sources of a nightly job, one file.

```toml
[sources.zoo]
root = "s3://models/zoo"
endpoint_url = "https://obs.cn-north-4.myhuaweicloud.com"
virtual_hosted = true
exclude = ["tmp/*"]

[sources.local]
root = "/srv/models"
include = ["*.om", "*.bin"]
```

tomllib reports no line for a value it parsed, so the keys are checked here against
the text: an unknown key is an error naming its line (a typo must not silently widen or
narrow what a nightly job scans).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE_KEYS: dict[str, type[Any]] = {
    "root": str,
    "include": list,
    "exclude": list,
    "follow_outside": bool,
    "endpoint_url": str,
    "virtual_hosted": bool,
}
_HEADER = re.compile(r"\s*\[+\s*([^\]]+?)\s*\]+")
_KEY = re.compile(r"""\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")


class FleetError(ValueError):
    """A fleet file that cannot be used, saying where."""


@dataclass(frozen=True)
class FleetSource:
    name: str
    root: str
    include: Sequence[str] | None = None  # None: the command line's
    exclude: Sequence[str] | None = None
    follow_outside: bool | None = None
    endpoint_url: str | None = None
    virtual_hosted: bool | None = None


def load_fleet(path: Path) -> list[FleetSource]:
    """The sources of the fleet file at ``path``, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise FleetError(f"{path}: {exc}") from None
    lines = text.splitlines()
    for key in data:
        if key != "sources":
            raise FleetError(f"{path}:{_line(lines, None, key)}: unknown key {key!r} (sources)")
    sources = data.get("sources", {})
    if not isinstance(sources, dict) or not sources:
        raise FleetError(f"{path}: no [sources.NAME] table")
    found = []
    for name, table in sources.items():
        where = f"sources.{name}"
        if not isinstance(table, dict):
            raise FleetError(f"{path}:{_line(lines, 'sources', name)}: {where} is not a table")
        for key, value in table.items():
            kind = SOURCE_KEYS.get(key)
            line = _line(lines, where, key)
            if kind is None:
                known = ", ".join(SOURCE_KEYS)
                raise FleetError(f"{path}:{line}: unknown key {key!r} in [{where}] ({known})")
            if not isinstance(value, kind) or (
                isinstance(value, list) and not all(isinstance(v, str) and v for v in value)
            ):
                raise FleetError(f"{path}:{line}: {key} must be a {_kind(kind)}")
        if "root" not in table:
            raise FleetError(f"{path}:{_line(lines, None, where)}: [{where}] has no root")
        found.append(FleetSource(name, **table))
    return found


def _kind(kind: type[Any]) -> str:
    return {str: "string", list: "list of globs", bool: "boolean"}[kind]


def _line(lines: Sequence[str], table: str | None, key: str) -> int:
    """The line of ``key`` in ``table`` (None: the top level, where a key may also be a
    table's header); the table's header line, or 1, when it cannot be told."""
    current: str | None = None
    header = 1
    for number, line in enumerate(lines, 1):
        if (match := _HEADER.match(line)) is not None:
            current = _unquote(match.group(1))
            if current == key or (table is None and current.split(".")[0] == key):
                return number
            if current == table:
                header = number
            continue
        match = _KEY.match(line)
        if match is not None and current == table and _unquote(match.group(1)) == key:
            return number
        dotted = (f"{table}.{key}", table)  # a dotted key at the top level: sources.NAME.key
        if match is not None and current is None and _unquote(match.group(1)) in dotted:
            return number
    return header


def _unquote(text: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in text.split("."))
