"""Security promises, checked against real processes: `omscan sql` changes nothing on
either database, nothing inside a model is ever written out or executed, and a
database password or an S3 secret key never shows in output, errors or the store."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from scanner.ask import sql_sqlite
from scanner.backends.om import OmBackend
from scanner.cli import cli
from scanner.om.om2_writer import Om2Params, write_om2
from scanner.scan.local import ScanOptions, run_scan
from scanner.sources.local import LocalFiles
from scanner.store import mask, open_store
from scanner.store.dialect import sqlite_read_only

from .helpers import omscan
from .s3server import REGION, Admin, SeaweedServer
from .s3server import SECRET_KEY as S3_SECRET

# --- omscan sql cannot change anything ----------------------------------------------


def dump(url: str) -> dict[str, Any]:
    """Everything a statement could change: every table's rows; on PostgreSQL also the
    sequences, large objects and advisory locks."""
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(str(make_url(url).database))) as conn:
            schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")
            state: dict[str, Any] = {"schema": schema.fetchall()}
            tables = [n for t, n, _ in state["schema"] if t == "table"]
            for name in tables:
                state[name] = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            return state
    with psycopg.connect(url, connect_timeout=5) as conn:
        names = [
            n
            for (n,) in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                " AND table_type = 'BASE TABLE'"  # a view's rows would come in any order
                " ORDER BY table_name"
            )
        ]
        state = {"schema": names}
        for name in names:
            state[name] = conn.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()
        state["sequences"] = conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
        ).fetchall()
        state["large_objects"] = conn.execute(
            "SELECT COUNT(*) FROM pg_largeobject_metadata"
        ).fetchall()
        state["advisory_locks"] = conn.execute(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
        return state


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory the database server's own user could write into, had it been asked
    (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="omscan-server-side-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


# (statement, exit code): 2 refused or invalid, 0 allowed because it changes nothing lasting
COMMON = [
    ("WITH x AS (UPDATE scans SET status = 'x' RETURNING id) SELECT * FROM x", 2),
    ("EXPLAIN ANALYZE DELETE FROM results", 2),
    ("SELECT 1; UPDATE scans SET status = 'x'", 2),
]
SQLITE = [
    ("SELECT load_extension('{outside}/evil.so')", 2),  # extension loading is off
    ("SELECT writefile('{outside}/evil', 'x')", 2),  # a shell-only function: absent
    ("SELECT fts3_tokenizer('simple')", 2),  # hands out a code pointer
    ("SELECT fts3_tokenizer('evil', x'4141414141414141')", 2),  # …and takes one
    ("SELECT sqlite_log(1, 'omscan')", 2),  # writes the error log
    ("SELECT * FROM (SELECT fts3_tokenizer('simple'))", 2),
    ("ANALYZE", 2),
    ("REINDEX", 2),
    ("CREATE TEMP TABLE t AS SELECT 1", 2),
    ("PRAGMA writable_schema = 1", 2),
    ("PRAGMA journal_mode = DELETE", 2),
    ("DETACH DATABASE main", 2),
    ("REPLACE INTO repositories (id, path) VALUES (1, '/x')", 2),
]
# Each refused before it runs, whatever it is wrapped in, as the superuser the tests use.
POSTGRES = [
    ("SELECT setval('results_id_seq', 1000000)", 2),
    ("COPY (SELECT 1) TO PROGRAM 'touch {outside}/program-ran'", 2),
    ("COPY (SELECT 1) TO '{outside}/copy-written'", 2),
    ("COPY results TO STDOUT", 2),
    ("DO $$BEGIN DELETE FROM results; END$$", 2),
    ("LOCK TABLE results IN ACCESS EXCLUSIVE MODE", 2),
    ("PREPARE p AS DELETE FROM results", 2),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", 2),
    ("SELECT set_config('transaction_read_only', 'off', false), COUNT(*) FROM results", 2),
    ("SELECT * FROM results FOR UPDATE", 2),
    ("SELECT * FROM results FOR KEY SHARE", 2),
    # outside the transaction: a replication slot survives the rollback, WAL piles up
    ("SELECT pg_create_physical_replication_slot('omscan_evil', true)", 2),
    ("SELECT * FROM pg_create_logical_replication_slot('omscan_evil_l', 'test_decoding')", 2),
    # the server's files
    ("SELECT pg_read_file('/etc/hostname')", 2),
    ("SELECT pg_read_binary_file('/etc/hostname')", 2),
    ("SELECT * FROM pg_ls_dir('/')", 2),
    ("SELECT pg_stat_file('/etc/hostname')", 2),
    ("SELECT lo_import('/etc/hostname')", 2),
    ("SELECT lo_export(0, '{outside}/lo-written')", 2),
    ("SELECT lo_from_bytea(0, 'x')", 2),
    # the server itself and other sessions
    ("SELECT pg_reload_conf()", 2),
    ("SELECT pg_switch_wal()", 2),
    ("SELECT pg_stat_reset()", 2),
    ("SELECT pg_terminate_backend(pg_backend_pid())", 2),
    ("SELECT pg_cancel_backend(pg_backend_pid())", 2),
    ("SELECT pg_advisory_lock(42)", 2),
    ("SELECT pg_try_advisory_xact_lock(42)", 2),
    ("SELECT pg_notify('omscan', 'x')", 2),
    ("SELECT nextval('results_id_seq')", 2),
    ("SELECT txid_current()", 2),
    ("SELECT pg_current_xact_id()", 2),
    # taking the superuser back from a role (SET ROLE is checked against the session user)
    ("SELECT set_config('role', 'postgres', true), COUNT(*) FROM results", 2),
    ("SELECT set_config('session_authorization', 'postgres', true)", 2),
    # the same, wrapped or spelled otherwise
    ("SELECT pg_catalog.pg_read_file('/etc/hostname')", 2),
    ("SELECT \"pg_read_file\"('/etc/hostname')", 2),
    ("SELECT PG_READ_FILE('/etc/hostname')", 2),
    ("SELECT (SELECT pg_read_file('/etc/hostname')) FROM scans", 2),
    ("WITH f AS (SELECT pg_ls_dir('/') AS name) SELECT * FROM f", 2),
    ("SELECT * FROM scans s, LATERAL (SELECT pg_reload_conf()) r", 2),
    ("SELECT id FROM scans WHERE EXISTS (SELECT pg_switch_wal())", 2),
    ("SELECT id FROM scans ORDER BY pg_stat_reset()", 2),
    ("SELECT CASE WHEN true THEN pg_read_file('/etc/hostname') END", 2),
    ("SELECT count(*) FILTER (WHERE pg_advisory_lock(1) IS NULL) FROM scans", 2),
    ("SELECT pg_read_file(x) FROM (VALUES ('/etc/hostname')) v(x)", 2),
    ("SELECT ('/etc/hostname'::text).pg_read_file", 2),  # (x).f is f(x)
    ("SELECT v.x.pg_stat_file FROM (VALUES ('/etc/hostname'::text)) v(x)", 2),
    ("SELECT query_to_xml('SELECT pg_read_file(''/etc/hostname'')', true, true, '')", 2),
    ("SELECT database_to_xml(true, true, '')", 2),
    ("SELECT current_setting('data_directory')", 2),
    # outside omscan's tables
    ("SELECT * FROM pg_authid", 2),
    ("TABLE pg_catalog.pg_shadow", 2),
    ("SELECT * FROM pg_stat_activity", 2),
    ("SELECT * FROM information_schema.tables", 2),
    ("SELECT * FROM public.results_id_seq", 2),
    ("WITH a AS (SELECT * FROM pg_authid), pg_authid AS (SELECT 1) SELECT * FROM a", 2),
    ("SHOW data_directory", 2),
    ("SELECT 'x'::pg_catalog.regclass, '1'::public.results", 2),
]


def test_sql_cannot_change_anything_even_by_side_effects(
    two_scans: tuple[str, Path],
    outside: Path,
) -> None:
    """In-process (the process boundary changes nothing here; a process per statement
    would cost a minute): exit code, one-line message, and the database unchanged."""
    db, _ = two_scans
    cases = COMMON + (SQLITE if db.startswith("sqlite") else POSTGRES)
    before = dump(db)
    for statement, code in cases:
        result = CliRunner().invoke(cli, ["sql", statement.format(outside=outside), "--db", db])
        assert result.exit_code == code, (statement, result.output)
        if code:
            assert result.stderr.startswith("omscan: ") and result.stderr.count("\n") == 1
            assert "Traceback" not in result.stderr
        if not db.startswith("sqlite") or statement.startswith(("COPY", "DO", "LOCK")):
            assert "refused" in result.stderr, (statement, result.stderr)  # never ran
        assert dump(db) == before, statement
    assert list(outside.iterdir()) == []  # no program ran, no file was written
    if not db.startswith("sqlite"):
        with psycopg.connect(db, connect_timeout=5) as conn:
            slots = conn.execute("SELECT slot_name FROM pg_replication_slots").fetchall()
        assert ("omscan_evil",) not in slots and ("omscan_evil_l",) not in slots


def test_sql_refuses_functions_of_extensions(pg_url: str) -> None:
    """dblink, installed: a function outside PostgreSQL's own is never run."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION dblink")
    for statement in (
        "SELECT dblink_exec('dbname=postgres', 'CREATE DATABASE omscan_evil')",
        "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)",
        "SELECT public.dblink_connect('x', 'dbname=postgres')",
    ):
        result = omscan("sql", statement, "--db", pg_url)
        assert result.returncode == 2, (statement, result.stderr)
        assert result.stderr.startswith("omscan: refused: ") and "dblink" in result.stderr
    with psycopg.connect(pg_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'omscan_evil'")
        assert found.fetchall() == []


def test_sqlite_read_only_layers_each_refuse_writes_alone(sqlite_url: str) -> None:
    """The read-only open without the authorizer, and the authorizer on a writable
    connection: each refuses every write by itself."""
    path = str(make_url(sqlite_url).database)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE results (id INTEGER)")
        conn.execute("INSERT INTO results VALUES (1)")
        conn.commit()
    writes = [
        "DELETE FROM results",
        "INSERT INTO results VALUES (2)",
        "CREATE TABLE evil (x)",
        "DROP TABLE results",
        "PRAGMA user_version = 7",
    ]
    for statement in writes:
        with (
            sqlite_read_only(path) as read_only,  # no authorizer
            pytest.raises(sqlite3.OperationalError, match="readonly"),
        ):
            read_only.execute(statement)
        with closing(sqlite3.connect(path)) as writable:  # the authorizer alone
            writable.set_authorizer(sql_sqlite.authorize)
            with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
                writable.execute(statement)
                writable.commit()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT * FROM results").fetchall() == [(1,)]
        assert conn.execute("PRAGMA user_version").fetchone() == (0,)
        assert [n for (n,) in conn.execute("SELECT name FROM sqlite_master")] == ["results"]


# --- nothing from a model is written or executed -------------------------------------

AUDIT = r"""
import json, os, runpy, sys

log = {"written": [], "dlopen": [], "exec": []}
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
EXEC = ("subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "os.fork")
out = os.open(os.environ.pop("OMSCAN_AUDIT_LOG"), os.O_WRONLY | os.O_CREAT, 0o600)


def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if any(c in str(mode or "") for c in "wax+") or (flags or 0) & WRITE:
            log["written"].append(str(path))
    elif event == "ctypes.dlopen":
        log["dlopen"].append(str(args[0]))
    elif event in EXEC:
        log["exec"].append(event)


def save():
    os.write(out, json.dumps(log).encode())


import atexit

atexit.register(save)
sys.addaudithook(hook)
sys.argv = ["omscan", *sys.argv[1:]]
runpy.run_module("scanner", run_name="__main__", alter_sys=True)
"""


def om2_models(root: Path) -> int:
    """OM2 archives, each carrying a `.so` kernel entry and `.o` kernels."""
    for index in range(3):
        path = root / f"m{index}" / "model.om"
        path.parent.mkdir(parents=True)
        write_om2(path, Om2Params(name=f"m{index}", work_size=1000 + index, models=2))
    return 3


def files_under(*folders: Path) -> set[str]:
    return {str(Path(p) / n) for f in folders for p, _, names in os.walk(f) for n in names}


def test_om2_kernels_are_never_written_out_or_loaded(tmp_path: Path) -> None:
    root, tmp, db = tmp_path / "repo", tmp_path / "tmpdir", tmp_path / "omscan.db"
    tmp.mkdir()
    count = om2_models(root)
    assert any(n.endswith(".so") for n in zipfile.ZipFile(root / "m0/model.om").namelist())
    before = files_under(tmp_path)
    log = tmp_path / "audit.json"
    env = {**os.environ, "TMPDIR": str(tmp), "OMSCAN_AUDIT_LOG": str(log)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the audit is about omscan, not the .pyc cache
    # --jobs 1: the audit hooks see this process; reader processes are not audited, and
    # their shared counter is an unlinked file of multiprocessing's in /dev/shm.
    command = [sys.executable, "-c", AUDIT, "scan", str(root), "--db", f"sqlite:///{db}"]
    command += ["--jobs", "1"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    audit = json.loads(log.read_text())
    # None: importing ctypes opens the running interpreter itself (ctypes.pythonapi)
    assert [lib for lib in audit["dlopen"] if lib != "None"] == []
    assert audit["exec"] == []
    db_files = {f"{db}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")}
    assert set(audit["written"]) <= db_files, audit["written"]
    assert files_under(tmp_path) - before <= db_files | {str(log)}
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT status, format, work_size FROM results").fetchall()
    assert sorted(rows) == [("ok", "om2", 1000 + i) for i in range(count)]


@pytest.mark.asyncio
async def test_om2_scan_works_with_every_library_loader_forbidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a library was loaded: {args}")

    for name in ("CDLL", "PyDLL"):
        monkeypatch.setattr(ctypes, name, refuse)
    monkeypatch.setattr(ctypes.cdll, "LoadLibrary", refuse)
    monkeypatch.setattr(ctypes.pydll, "LoadLibrary", refuse)
    count = om2_models(tmp_path / "repo")
    async with open_store(f"sqlite:///{tmp_path / 'omscan.db'}") as store:
        summary = await run_scan(
            store, OmBackend(LocalFiles()), ScanOptions(roots=[str(tmp_path / "repo")])
        )
    assert summary.progress.statuses == {"ok": count}


# --- passwords never shown ------------------------------------------------------------

SECRET = "s3cretpw"


def test_database_password_never_appears_in_output_errors_or_the_store(
    tmp_path: Path, pg_url: str
) -> None:
    url = make_url(pg_url).set(password=SECRET).render_as_string(hide_password=False)
    assert SECRET in url  # trust authentication accepts it and ignores it
    bad_name = make_url(url).set(database="omscan_no_such_db").render_as_string(False)
    bad_port = make_url(url).set(port=1).render_as_string(hide_password=False)
    root = tmp_path / "repo"
    root.mkdir()
    om2_models(root)
    (root / "broken.om").write_bytes(b"IMOD" + bytes(300))
    runs = [
        (["scan", str(root), "--db", url], 1),
        (["scan", str(root), "--db", url, "--json"], 1),
        (["report", "--db", url], 0),
        (["report", "--db", url, "--format", "json"], 0),
        (["scans", "--db", url, "--format", "csv"], 0),
        (["history", "m0/model.om", "--db", url], 0),
        (["diff", "--db", url], 0),
        (["sql", "SELECT * FROM scans", "--db", url, "--format", "json"], 0),
        (["sql", "SELECT no_such_column FROM scans", "--db", url], 2),
        (["sql", "DELETE FROM scans", "--db", url], 2),
        (["db", "current", "--db", url], 0),
        (["db", "upgrade", "--db", url], 0),
    ]
    for bad in (bad_name, bad_port):
        runs += [
            (["scan", str(root), "--db", bad], 3),
            (["report", "--db", bad], 3),
            (["scans", "--db", bad], 3),
            (["sql", "SELECT 1", "--db", bad], 3),
            (["db", "current", "--db", bad], 3),
            (["db", "upgrade", "--db", bad], 3),
        ]
    for args, code in runs:
        result = omscan(*args)
        assert result.returncode == code, (args, result.stderr)
        assert SECRET not in result.stdout + result.stderr, args
        if code == 3:
            assert result.stderr.startswith("omscan: database postgresql://postgres:***@")
    from_env = omscan("scans", env={**os.environ, "OMSCAN_DB": bad_port})
    assert from_env.returncode == 3 and SECRET not in from_env.stdout + from_env.stderr
    in_process = CliRunner().invoke(cli, ["db", "current", "--db", bad_name])
    assert in_process.exit_code == 3 and SECRET not in in_process.output
    # Every other place a URL carries a credential, and URLs that do not parse.
    host = make_url(pg_url).set(password=None)
    unreachable = host.set(port=1).render_as_string(hide_password=False)
    name = host.database
    forms = [
        (f"{pg_url}?password={SECRET}", 0),
        (f"{pg_url}?sslmode=disable&password={SECRET}", 0),
        (f"{unreachable}?password={SECRET}", 3),
        (f"{pg_url}?sslpassword={SECRET}", 2),  # libpq's, unknown to the driver
        (f"postgresql://postgres:hun@{SECRET}@127.0.0.1/{name}", 2),  # @ not written %40
        (f"postgresql://postgres:{SECRET}@127.0.0.1:99999/{name}", 2),
        (f"postgresql://postgres:{SECRET}@127.0.0.1:port/{name}", 2),
        (f"postgresql://postgres:{SECRET}@127.0.0.1/{name}?command_timeout=soon", 2),
        (f"mysql://root:{SECRET}@127.0.0.1/{name}", 2),
        (f"host=127.0.0.1 password={SECRET} dbname={name}", 2),  # libpq's form, not a URL
    ]
    for form, code in forms:  # in-process: a process each would take half a minute more
        for args in (["scans"], ["sql", "SELECT 1"], ["report", "--format", "csv"]):
            result = CliRunner().invoke(cli, [*args, "--db", form])
            assert result.exit_code == code, (form, args, result.output)
            assert SECRET not in result.output, (form, args)
            assert code == 0 or result.stderr.count("\n") == 1, result.stderr
    assert SECRET not in json.dumps(dump(pg_url), default=str)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:hunter2@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:hun@ter2@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p/a?ss@h:99999/db", "postgresql://u:***@h:99999/db"),
        ("postgresql://u@h/db?password=hunter2", "postgresql://u@h/db?password=***"),
        (
            "postgresql://u@h/db?sslmode=require&sslpassword=a%20b&pass%77ord=c",
            "postgresql://u@h/db?sslmode=require&sslpassword=***&pass%77ord=***",
        ),
        (
            "postgresql:///db?host=/run/pg&PASSWORD=hunter2",
            "postgresql:///db?host=/run/pg&PASSWORD=***",
        ),
        ("host=h password=hunter2 user=u", "host=h password=*** user=u"),
        ("host=h password='hun ter2'", "host=h password=***"),
        ("sqlite:////data/a@b/omscan.db", "sqlite:////data/a@b/omscan.db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_one_mask_hides_every_credential_a_url_carries(url: str, shown: str) -> None:
    assert mask(url) == shown
    assert mask(url) == mask(mask(url))  # masking a masked URL changes nothing


def test_s3_secret_never_appears_in_output_errors_or_the_store(
    tmp_path: Path, s3_server: SeaweedServer
) -> None:
    admin = Admin(s3_server)
    bucket = admin.new_bucket()
    admin.put(bucket, "m/model.om", b"IMOD" + bytes(300))
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    wrong = f"wrong-{S3_SECRET}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_REGION": REGION,
    }
    runs = [
        (["scan", f"s3://{bucket}", "--db", url, "--backend", "om"], env, 1),
        (["scan", f"s3://{bucket}", "--db", url, "--backend", "om", "--json"], env, 1),
        (["report", "--db", url, "--format", "json"], env, 0),
        (["scans", "--db", url, "--format", "json"], env, 0),
        (["scan", "s3://no-such-bucket-here", "--db", url], env, 3),
        (["scan", f"s3://{bucket}", "--db", url], {**env, "AWS_SECRET_ACCESS_KEY": wrong}, 3),
        (["scan", f"s3://{bucket}", "--db", url], {**env, "AWS_SESSION_TOKEN": wrong}, 3),
        (["scan", f"s3://{bucket}", "--db", url, "--endpoint-url", "http://127.0.0.1:1"], env, 3),
    ]
    for args, environment, code in runs:
        result = omscan(*args, env=environment)
        assert result.returncode == code, (args, result.stderr)
        assert S3_SECRET not in result.stdout + result.stderr, args
        if code == 3:
            assert result.stderr.count("\n") == 1, result.stderr
    assert S3_SECRET.encode() not in db.read_bytes()
