"""The one error the store raises to its callers: a clear line, never a password."""


class StoreError(Exception):
    """The database cannot be used: unreachable, bad URL, schema from a newer omscan."""


class ScanClosed(StoreError):
    """A write for a scan that is no longer running (completed, or marked interrupted
    while its writer was silent): nothing is stored over what it recorded."""
