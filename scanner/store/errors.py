"""The one error the store raises to its callers: a clear line, never a password."""


class StoreError(Exception):
    """The database cannot be used: unreachable, bad URL, schema from a newer omscan."""
