"""Database fixtures: every store test runs on SQLite and on the local PostgreSQL.

PostgreSQL tests get a fresh database each (other test runs share the server). A server
that cannot be reached (connection refused, timed out) skips them, saying why; a complete
run (CI, ``--complete``) fails them. Any other error (bad authentication, a missing
role) fails them always: the server is there, the setup is wrong.
Object-storage tests share one real S3 server (SeaweedFS), started only if one asks.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .helpers import COMPLETE_ENV, complete_run, run, unavailable, write_model

if TYPE_CHECKING:
    from .s3server import Admin, SeaweedServer
    from .tcp_proxy import HttpProxy

PG_ADMIN_URL = os.environ.get("OMSCAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_engine():  # type: ignore[no-untyped-def]
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--complete",
        action="store_true",
        help="fail, not skip, tests whose corpus or database is missing (as CI=1 does)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("complete"):
        os.environ[COMPLETE_ENV] = "1"


def pytest_report_header() -> str:
    missing = "fails" if complete_run() else "is skipped"
    return f"omscan: a test whose corpus or database is missing {missing}"


def _reachable() -> None:
    """Skip (or, in a complete run, fail) when nothing answers at the server's address."""
    url = make_url(PG_ADMIN_URL)
    address = (url.host or "127.0.0.1", url.port or 5432)
    try:
        socket.create_connection(address, timeout=5).close()
    except (ConnectionRefusedError, TimeoutError) as exc:
        unavailable(f"PostgreSQL at {address[0]}:{address[1]} not reachable: {exc}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database as a plain URL; dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    name = f"omscan_test_{uuid.uuid4().hex[:12]}"
    _reachable()
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'omscan.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on both databases."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def other_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh database of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def two_scans(tmp_path: Path, db_url: str) -> tuple[str, Path]:
    """Scan 1: a, b, c, broken. Scan 2: a grows 50 %, b unchanged, c removed, d added."""
    root = tmp_path / "repo"
    write_model(root / "a.om", 1000, 1000)
    write_model(root / "b.om", 5 << 30, 4 << 30, soc="Ascend910B")
    write_model(root / "c.om", 10, 10)
    (root / "broken.om").write_bytes(b"IMOD" + bytes(300))
    assert run("scan", str(root), "--db", db_url)[0] == 1
    write_model(root / "a.om", 2000, 1000)
    (root / "c.om").unlink()
    write_model(root / "d.om", 7, 7)
    assert run("scan", str(root), "--db", db_url)[0] == 1
    return db_url, root


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    """A real S3 server (SeaweedFS) for the whole session, started by the first test
    that asks for it: runs without object-storage tests never start one."""
    from .s3server import start_server

    server, directory = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def admin(s3_server: SeaweedServer) -> Admin:
    """The server's own client, for setting up buckets and objects."""
    from .s3server import Admin

    return Admin(s3_server)


@pytest.fixture
def proxy(s3_server: SeaweedServer) -> Iterator[HttpProxy]:
    """A counting relay in front of the S3 server."""
    from .tcp_proxy import HttpProxy

    relay = HttpProxy(("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1])))
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    """Worker processes started by the test; none outlives it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory nobody (uid 65534) can use: pytest's own tmp_path is private."""
    folder = Path(tempfile.mkdtemp(prefix="omscan-faults-"))
    folder.chmod(0o777)
    yield folder
    for path, dirs, _ in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(path, name), 0o755)
    shutil.rmtree(folder)
