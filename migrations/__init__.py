"""Alembic migrations for the omscan store (installed as ``scanner.migrations``)."""
