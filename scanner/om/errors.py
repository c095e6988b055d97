"""aclError codes and the reader's own exceptions.

Callers (the scan, the CLI, the acl test double) rely on the reader raising nothing
but :class:`ReaderError`: an :class:`OmError` carries the exact code
`aclmdlQuerySizeFromMem` would return; a :class:`FileAccessError` means the bytes never
reached the query; a :class:`QueryTimeout` means the caller's deadline passed first
(see deadline.py).
"""

from __future__ import annotations

from enum import IntEnum


class AclError(IntEnum):
    """The aclError codes of the query (om-format.md §6), and of the calls a device
    worker makes around it."""

    SUCCESS = 0
    ACL_ERROR_INVALID_PARAM = 100000
    ACL_ERROR_REPEAT_INITIALIZE = 100002
    ACL_ERROR_REPEAT_FINALIZE = 100037
    ACL_ERROR_RT_INVALID_DEVICEID = 107001
    ACL_ERROR_GE_PARAM_INVALID = 145000
    ACL_ERROR_GE_EXEC_NOT_INIT = 145001
    ACL_ERROR_GE_EXEC_MODEL_DATA_SIZE_INVALID = 145006
    ACL_ERROR_GE_FAILURE = 500002
    ACL_ERROR_GE_EXEC_LOAD_WEIGHT_PARTITION_FAILED = 545003
    ACL_ERROR_GE_EXEC_LOAD_TASK_PARTITION_FAILED = 545004


def error_name(code: int) -> str:
    """Symbolic name of an aclError code, or ``ACL_ERROR_<code>`` for unknown ones."""
    try:
        return AclError(code).name
    except ValueError:
        return f"ACL_ERROR_{code}"


class ReaderError(Exception):
    """Base of everything the reader raises; nothing else escapes it."""


class OmError(ReaderError):
    """A model the API would reject: the aclError ``code`` and a one-line ``reason``."""

    def __init__(self, code: AclError, reason: str) -> None:
        super().__init__(f"{code.name} ({int(code)}): {reason}")
        self.code = code
        self.reason = reason


class FileAccessError(ReaderError):
    """The bytes never reached the query: missing file, no permission, I/O error, or a
    file that changed size while it was read. Not an API answer, so it has no code."""


class QueryTimeout(ReaderError):
    """The caller's deadline passed before the answer: the model has none (yet)."""
