r"""Paths that are not valid UTF-8, stored losslessly as text.

Python hands such a name over with each undecodable byte as a lone surrogate (PEP 383);
neither SQLite's driver nor PostgreSQL's UTF-8 text can hold one. The store keeps such a
path as ``./`` followed by its bytes decoded, each byte that is not UTF-8 written
``\xNN`` and each backslash ``\\``: readable in every output, the bytes exactly
recoverable, and never equal to a real path — no path the walk stores (relative to a
repository, or absolute) begins with ``./``, so a valid name that merely reads
``a\xff.om`` stays apart from the file whose name holds the byte 0xff.
"""

from __future__ import annotations

import os
import re

MARK = "./"
_ESCAPE = re.compile(rb"\\(?:\\|x([0-9a-f]{2}))")


def stored_name(path: str) -> str:
    """The text the store keeps for ``path`` (itself, when it is valid UTF-8)."""
    if path.isascii():
        return path
    try:
        path.encode()
    except UnicodeEncodeError:
        raw = os.fsencode(path).replace(b"\\", b"\\\\")
        return MARK + raw.decode(errors="backslashreplace")
    return path


def disk_name(text: str) -> str:
    """The path ``stored_name`` stored as ``text``, as the file system knows it."""
    if not text.startswith(MARK):
        return text
    raw = _ESCAPE.sub(_unescape, text[len(MARK) :].encode())
    return os.fsdecode(raw)


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    return b"\\" if code is None else bytes([int(code, 16)])


def storable_text(text: str | None) -> str | None:
    """Free text (an error message, a name read from a model) as a database holds it: a
    lone surrogate, such as a path's undecodable byte quoted in a message, escaped."""
    if text is None or text.isascii():
        return text
    return text.encode(errors="backslashreplace").decode()
