"""Where results live: SQLite by default, PostgreSQL by URL, Alembic-migrated."""

from .errors import StoreError
from .store import PreviousFile, ResultItem, Store, open_store
from .urls import DEFAULT_URL, mask

__all__ = ["DEFAULT_URL", "PreviousFile", "ResultItem", "Store", "StoreError", "mask", "open_store"]
