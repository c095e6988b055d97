"""`omscan scan s3://…` against a real S3 server (SeaweedFS on loopback).

What reached the server is counted by an HTTP relay the test owns (tests/tcp_proxy.py);
the answers are compared with a local scan of the same files.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from scanner.core import ModelFile, Status
from scanner.core.source import ReadFailed
from scanner.objstore import S3Settings
from scanner.om.writer import ModelParams, spec_for, write_om
from scanner.sources.bucket import Buckets, ObjectFiles
from scanner.sources.local import LocalFiles
from scanner.sources.mixed import AnyFiles

from .cli import run
from .corpus import require_corpus
from .fleet import start_worker
from .helpers import query
from .s3server import REGION, SECRET_KEY, Admin, SeaweedServer
from .tcp_proxy import HttpProxy, Request, Response
from .test_objstore import ODD_KEYS, small_model

BIG = 256 << 20
COLUMNS = "status, ret, work_size, weight_size, format, model_name, soc_version"


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, s3_server: SeaweedServer) -> None:
    """The server's key pair in the standard variables, as users give theirs."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def scan(db: Path, endpoint: str | int, *args: str) -> tuple[int, str]:
    url = endpoint if isinstance(endpoint, str) else f"http://127.0.0.1:{endpoint}"
    return run("scan", "--db", f"sqlite:///{db}", "--endpoint-url", url, "--backend", "om", *args)


def latest(db: Path, repository: str) -> dict[str, tuple[Any, ...]]:
    """Each present file's latest result in ``repository``."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            f"""SELECT f.relpath, {COLUMNS} FROM results r
            JOIN model_files f ON f.id = r.file_id
            JOIN repositories p ON p.id = f.repository_id
            WHERE p.path = ? AND f.removed_scan_id IS NULL
            AND r.id = (SELECT max(id) FROM results WHERE file_id = f.id)""",
            (repository,),
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def removed(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT relpath FROM model_files WHERE removed_scan_id IS NOT NULL")
        return {row[0] for row in rows}


def models(root: Path, count: int) -> dict[str, Path]:
    files = {}
    for index in range(count):
        path = root / f"d{index % 3}" / f"m{index}.om"
        write_model_file(path, 1000 + index)
        files[path.relative_to(root).as_posix()] = path
    return files


def write_model_file(path: Path, work: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_om(path, spec_for(ModelParams(memory_size=work, weight_size=2048)))  # past LFS size


def upload(admin: Admin, bucket: str, prefix: str, files: dict[str, Path]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda item: admin.put_file(bucket, prefix + item[0], item[1]), files.items())
        )


def test_the_corpus_in_a_bucket_answers_as_on_disk(
    admin: Admin, s3_server: SeaweedServer, tmp_path: Path, keys: None
) -> None:
    corpus = require_corpus()
    files = {p.relative_to(corpus).as_posix(): p for p in corpus.rglob("*.om") if p.is_file()}
    bucket = admin.new_bucket()
    upload(admin, bucket, "zoo/", files)
    db = tmp_path / "s.db"
    code, out = scan(db, s3_server.endpoint, f"s3://{bucket}/zoo", str(corpus))
    assert code in (0, 1), out
    on_disk = latest(db, str(corpus.resolve()))
    in_bucket = latest(db, f"s3://{bucket}/zoo")
    assert in_bucket == on_disk and len(in_bucket) == len(files)


def test_a_256_mib_object_costs_a_few_kib_and_an_unchanged_rescan_no_get(
    admin: Admin, proxy: HttpProxy, tmp_path: Path, keys: None
) -> None:
    bucket = admin.new_bucket()
    big = tmp_path / "big.om"
    write_om(big, spec_for(ModelParams(memory_size=7 << 20, weight_size=BIG)))
    admin.put_file(bucket, "big.om", big)
    big.unlink()
    small = models(tmp_path / "src", 5)
    upload(admin, bucket, "", small)
    db = tmp_path / "s.db"
    code, out = scan(db, proxy.port, f"s3://{bucket}")
    assert code == 0, out
    answers = latest(db, f"s3://{bucket}")
    assert answers["big.om"][:4] == ("ok", 0, 7 << 20, BIG)
    assert len(answers) == 6
    gets = [r for r in proxy.gets() if "big.om" in r.target]
    assert len(gets) == 2 and proxy.bytes_down < 64 << 10

    proxy.reset_counts()
    code, out = scan(db, proxy.port, f"s3://{bucket}", "--json")
    assert code == 0, out
    assert proxy.gets() == [] and '"files_unchanged": 6' in out

    write_model_file(tmp_path / "new.om", 4242)
    admin.put_file(bucket, "d1/m1.om", tmp_path / "new.om")
    proxy.reset_counts()
    code, out = scan(db, proxy.port, f"s3://{bucket}")
    assert code == 0, out
    assert {r.target.split("?")[0] for r in proxy.gets()} == {f"/{bucket}/d1/m1.om"}
    assert latest(db, f"s3://{bucket}")["d1/m1.om"][2] == 4242

    admin.delete(bucket, "d2/m2.om")
    code, out = scan(db, proxy.port, f"s3://{bucket}")
    assert code == 0, out
    assert removed(db) == {"d2/m2.om"}


def test_an_object_replaced_between_listing_and_reading_is_changed(
    admin: Admin, s3_server: SeaweedServer, tmp_path: Path, keys: None
) -> None:
    bucket = admin.new_bucket()
    upload(admin, bucket, "", models(tmp_path / "src", 1))
    replaced = threading.Event()

    def replace_on_listing(request: Request, response: Response) -> bytes:
        if "list-type=" in request.target and not replaced.is_set():
            admin.put(bucket, "d0/m0.om", small_model(9999))
            replaced.set()
        return response.head + response.body

    relay = HttpProxy(("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1])), replace_on_listing)
    relay.start()
    try:
        db = tmp_path / "s.db"
        code, out = scan(db, relay.port, f"s3://{bucket}")
    finally:
        relay.stop()
    assert code == 1, out
    (status, *_) = latest(db, f"s3://{bucket}")["d0/m0.om"]
    assert status == "changed"


def test_many_and_odd_keys_are_listed_and_answered_many_at_once(
    admin: Admin, proxy: HttpProxy, tmp_path: Path, keys: None
) -> None:
    bucket = admin.new_bucket()
    data = small_model(4096)
    names = [f"m/{i:05d}.om" for i in range(1010)] + ODD_KEYS
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: admin.put(bucket, "p/" + k, data), names))
    admin.put(bucket, "p/lfs.om", b"version https://git-lfs.github.com/spec/v1\noid sha256:00\n")
    admin.put(bucket, "p/empty.om", b"")
    db = tmp_path / "s.db"
    proxy.reset_counts()
    code, out = scan(db, proxy.port, f"s3://{bucket}/p", "--exclude", "tab*")
    assert code == 0, out
    assert proxy.peak_in_flight > 4  # the om backend's reads overlap (--max-in-flight)
    answers = latest(db, f"s3://{bucket}/p")
    expected = {k for k in names if k.endswith(".om") and not k.startswith("tab")}
    assert set(answers) == expected | {"lfs.om", "empty.om"}
    assert answers["ünïcode/模型.om"][:3] == ("ok", 0, 4096)
    assert answers["v1..2/..hidden.om"][:3] == ("ok", 0, 4096)
    assert answers["lfs.om"][0] == "lfs_pointer" and answers["empty.om"][0] == "empty"
    code, out = run(
        "history",
        f"s3://{bucket}/p/v1..2/..hidden.om",
        "--db",
        f"sqlite:///{db}",
        "--format",
        "json",
    )
    assert code == 0 and [row["relpath"] for row in json.loads(out)] == ["v1..2/..hidden.om"]


def test_wrong_credentials_and_a_missing_bucket_are_one_line(
    admin: Admin,
    s3_server: SeaweedServer,
    tmp_path: Path,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = admin.new_bucket()
    db = tmp_path / "s.db"
    code, out = scan(db, s3_server.endpoint, "s3://no-such-bucket-here")
    assert code == 3 and len(out.strip().splitlines()) == 1 and "no such bucket" in out, out
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + SECRET_KEY)
    code, out = scan(db, s3_server.endpoint, f"s3://{bucket}")
    assert code == 3 and len(out.strip().splitlines()) == 1 and "wrong credentials" in out, out
    assert SECRET_KEY not in out


def test_a_server_gone_mid_scan_interrupts_and_the_next_scan_finishes(
    admin: Admin, proxy: HttpProxy, tmp_path: Path, keys: None
) -> None:
    bucket = admin.new_bucket()
    upload(admin, bucket, "", models(tmp_path / "src", 150))
    db = tmp_path / "s.db"

    def crash_after_some_reads() -> None:
        while len(proxy.gets()) < 100:
            time.sleep(0.001)
        proxy.crash()

    killer = threading.Thread(target=crash_after_some_reads, daemon=True)
    killer.start()
    code, out = scan(db, proxy.port, f"s3://{bucket}")
    killer.join()
    assert code == 3 and "went away" in out, out
    answered = latest(db, f"s3://{bucket}")
    assert 0 < len(answered) < 150 and removed(db) == set()
    proxy.restart()
    code, out = scan(db, proxy.port, f"s3://{bucket}")
    assert code == 0, out
    answers = latest(db, f"s3://{bucket}")
    assert len(answers) == 150 and {a[0] for a in answers.values()} == {"ok"}


def test_a_distributed_scan_of_a_bucket_is_drained_by_two_workers(
    admin: Admin,
    s3_server: SeaweedServer,
    tmp_path: Path,
    keys: None,
    pg_url: str,
    workers: list[subprocess.Popen[str]],
) -> None:
    bucket = admin.new_bucket()
    upload(admin, bucket, "p/", models(tmp_path / "src", 120))
    code, out = run(
        "scan", "--distributed", "--db", pg_url, "--endpoint-url", s3_server.endpoint,
        f"s3://{bucket}/p", "--json",
    )  # fmt: skip
    assert code == 0 and '"files_queued": 120' in out, out
    env = {**os.environ, "AWS_ENDPOINT_URL": s3_server.endpoint}
    for host in ("h1", "h2"):
        start_worker(workers, pg_url, host, "--claim", "8", "--exit-when-idle", env=env)
    done = []
    for process in workers:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        done.append(json.loads(stdout)["files_done"])
    assert sum(done) == 120
    rows = query(
        pg_url,
        f"""SELECT f.relpath, r.status, r.work_size FROM results r
        JOIN model_files f ON f.id = r.file_id JOIN repositories p ON p.id = f.repository_id
        WHERE p.path = 's3://{bucket}/p'""",
    )
    assert len(rows) == 120 and {row[1] for row in rows} == {"ok"}
    assert {row[0]: row[2] for row in rows}["d1/m4.om"] == 1004


@pytest.mark.asyncio
async def test_the_acl_path_reads_a_whole_object_into_the_buffer_pinned_to_its_etag(
    admin: Admin, s3_server: SeaweedServer
) -> None:
    bucket = admin.new_bucket()
    data = bytes(range(256)) * 40_000  # 10 MB: more than one 8 MiB GET
    etag = admin.put(bucket, "m/whole.om", data)
    settings = S3Settings(
        endpoint_url=s3_server.endpoint,
        region=REGION,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
        attempts=1,
    )
    record = ModelFile(f"s3://{bucket}/m", "whole.om", len(data), token=etag)
    async with Buckets(settings) as buckets:
        files = AnyFiles(LocalFiles(), ObjectFiles(buckets))
        buffer = bytearray(len(data))
        await files.read_into(record, memoryview(buffer))
        assert buffer == data
        admin.put(bucket, "m/whole.om", data[::-1])
        with pytest.raises(ReadFailed) as replaced:
            await files.read_into(record, memoryview(buffer))
        assert replaced.value.status == Status.CHANGED
        admin.delete(bucket, "m/whole.om")
        with pytest.raises(ReadFailed) as gone:
            await files.read_into(record, memoryview(buffer))
        assert gone.value.status == Status.UNREADABLE and "not found" in str(gone.value)
