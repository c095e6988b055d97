"""Database URLs as users type them, turned into the async drivers SQLAlchemy needs, and
shown back to them with every credential masked."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .dialect import COUNT, SECONDS, Dialect, dialect_for
from .errors import StoreError

DEFAULT_URL = "sqlite:///omscan.db"
ENV_VAR = "OMSCAN_DB"
HIDDEN = "***"

# Query keys (and libpq keywords) whose value is a credential: password, sslpassword,
# passfile, ?secret=, ?token=, ?aws_secret_access_key= …
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|credential|key", re.IGNORECASE)
# libpq's keyword=value connection strings: password=x or password='x y'
_KEYWORD_VALUE = re.compile(r"([\w.%-]+)(\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)")


def resolve(url: str | None) -> str:
    """The URL to use: the one given, else $OMSCAN_DB, else ./omscan.db. An empty URL is
    a mistake (an unset shell variable), not a wish for the default."""
    if url is None:
        url = os.environ.get(ENV_VAR) or DEFAULT_URL
    if not url.strip():
        raise StoreError(f"the database URL is empty (try {DEFAULT_URL})")
    return url


def async_url(url: str) -> URL:
    """``sqlite:///x.db`` → sqlite+aiosqlite, ``postgresql://`` → postgresql+asyncpg: the
    URL as its dialect's driver takes it, its parameters checked."""
    try:
        parsed = make_url(url)
        port = parsed.port  # a bad port only raises when read
    except (ArgumentError, ValueError):
        raise StoreError(f"not a database URL: {mask(url)} (try {DEFAULT_URL})") from None
    if port is not None and not 0 < port < 65536:
        raise StoreError(f"not a database URL: {mask(url)} (port {port} is not 1-65535)")
    if "@" in (parsed.host or ""):
        # user:p@ss@host: the driver would take "ss@host" for the host
        raise StoreError(f"not a database URL: {mask(url)} (write @ in a password as %40)")
    dialect = dialect_for(parsed.drivername)
    _check_parameters(url, dialect, parsed.query)
    return dialect.driver_url(parsed)


def _check_parameters(url: str, dialect: Dialect, query: Mapping[str, Any]) -> None:
    known = dialect.parameters
    for key, value in query.items():
        kind = known.get(key)
        if kind is None:
            raise StoreError(
                f"not a database URL: {mask(url)} (unknown parameter {key!r}; "
                f"{dialect.name} URLs take {', '.join(known)})"
            )
        if not isinstance(value, str) or not _valid(kind, value):
            wanted = f"one of {', '.join(kind)}" if isinstance(kind, tuple) else kind
            raise StoreError(f"not a database URL: {mask(url)} ({key} must be {wanted})")


def _valid(kind: str | tuple[str, ...], value: str) -> bool:
    if isinstance(kind, tuple):
        return value in kind
    if kind == COUNT:
        return value.isdigit()
    if kind == SECONDS:
        try:
            return math.isfinite(float(value)) and float(value) > 0
        except ValueError:
            return False
    return True


def file_database(url: str) -> URL:
    """``async_url``, refusing SQLite's in-memory database: every omscan command is its
    own process, so results written there would be gone when it exits."""
    parsed = async_url(url)
    if dialect_for(parsed).in_memory(parsed):
        raise StoreError(
            f"{mask(url)} is an in-memory database, gone when omscan exits; "
            f"give a file (e.g. {DEFAULT_URL})"
        )
    return parsed


def mask(url: str | URL) -> str:
    """The URL with every credential it carries replaced by ``***``: the password of
    ``user:password@``, and the value of any query key naming a secret (``?password=``,
    ``?sslpassword=`` …). Works on the text, so a URL that does not parse is masked too.
    The one masking function: every message, display and stored option goes through it."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    scheme, separator, rest = text.partition("://")
    if not separator:  # not a URL: a keyword=value string, or anything
        return _KEYWORD_VALUE.sub(_hide_secret, text)
    if not rest.startswith("/") and "@" in rest:
        # Everything before the last @ is user:password (a password may hold / ? @ :).
        userinfo, _, after = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        rest = f"{user}{colon}{HIDDEN if colon else ''}@{after}"
    location, question, query = rest.partition("?")
    pairs = [pair.partition("=") for pair in query.split("&")]
    shown = "&".join(_shown(key, equals, value) for key, equals, value in pairs)
    return f"{scheme}://{location}{question}{shown}"


def _hide_secret(match: re.Match[str]) -> str:
    return _shown(*match.groups())


def _shown(key: str, equals: str, value: str) -> str:
    secret = equals and value and _SECRET_KEY.search(unquote(key))
    return f"{key}{equals}{HIDDEN if secret else value}"
