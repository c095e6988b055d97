"""Text safe for a terminal: what it would act on or hide is shown escaped. Kept apart
from the output formats so that commands printing a few lines do not load rich."""

from __future__ import annotations

import re

# What a terminal would act on or hide: C0 and C1 controls, DEL, bidirectional and
# invisible formatting characters, line separators, lone surrogates (bytes of a file
# name that is not UTF-8).
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\ud800-\udfff]"
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` safe for a terminal: what it would act on or hide is shown escaped."""
    return _UNPRINTABLE.sub(_escape, text)


def writable(text: str) -> str:
    """``text`` as it is, except for what no UTF-8 output can carry: lone surrogates."""
    return _LONE_SURROGATE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
