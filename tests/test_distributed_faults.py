"""Distributed scans under the classic failures of lease-based work queues, with real
`omscan worker` processes on the local PostgreSQL: workers paused past their lease
(SIGSTOP), killed, run as a user that cannot read a file, a coordinator killed or paused
while walking, a database link frozen by a relay we own (never the shared server)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from scanner.backends.base import Answer, Loaded
from scanner.backends.om import OmBackend
from scanner.cli import cli
from scanner.core import ModelFile
from scanner.om import QueryResult, query_path
from scanner.om.writer import ModelParams, build_om, spec_for
from scanner.scan.distributed import WorkerOptions, enqueue_scan, run_worker
from scanner.scan.local import ScanOptions
from scanner.sources.local import LocalFiles
from scanner.store import open_store
from scanner.store.queue import WorkQueue

from .fleet import (
    done_by,
    drain,
    enqueue,
    held_by,
    migrated,
    pause_holding,
    scan_status,
    start_worker,
    value,
)
from .helpers import (
    ROOT,
    item,
    many_models,
    ok,
    omscan_command,
    one_line_error,
    query,
    unprivileged_python,
    wait_for,
)
from .tcp_proxy import Proxy

Workers = list[subprocess.Popen[str]]
LEASE = "4"  # seconds: short, so that leases run out within a test
PAUSED_LEASE = "8"


def bigger_model() -> bytes:
    """A model whose answer differs from many_models' ones."""
    return build_om(spec_for(ModelParams(memory_size=777_000, weight_size=10, kernels=0)))


def results_of(url: str, scan_id: int) -> list[tuple[object, ...]]:
    return query(url, f"SELECT * FROM results WHERE scan_id = {scan_id} ORDER BY id")


def counts_agree(url: str, scan_id: int) -> None:
    """The scan's recorded counts are those of its stored rows."""
    counts = json.loads(value(url, f"SELECT counts FROM scans WHERE id = {scan_id}"))
    stored = dict(
        query(url, f"SELECT status, count(*) FROM results WHERE scan_id = {scan_id} GROUP BY 1")
    )
    assert counts["statuses"] == stored
    assert counts["files_seen"] == sum(stored.values())


def status_json(url: str, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["status", "--db", url, "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


# --- 1 and 2. a worker paused past its lease ----------------------------------------


def test_a_worker_paused_past_its_lease_changes_nothing_once_it_resumes(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    """Worker A is paused holding claims; B drains the scan, which completes; files
    change, one is deleted and a later local scan records that; A resumes. Every answer
    A still had is late: none is stored, the completed scan and the later one stand."""
    root = tmp_path / "repo"
    many_models(root, 2000)  # enough to be still at work when paused
    scan_id = enqueue(pg_url, root)["scan_id"]
    # A longer lease than the others: resumed, A must renew within a third of it, and a
    # loaded machine (the whole suite) once took longer than 4 s / 3 (LeaseLost).
    paused = start_worker(
        workers, pg_url, "paused", "--lease-seconds", PAUSED_LEASE, "--claim", "40"
    )
    # Some files stored first, so that `status` lists A for this scan at the end.
    wait_for(lambda: done_by(pg_url, "paused") > 0, what="worker A storing its first files")
    held = pause_holding(paused, pg_url, "paused")

    drainer = start_worker(workers, pg_url, "drainer", "--exit-when-idle")
    _, err = drainer.communicate(timeout=120)
    assert drainer.returncode == 0, err
    assert scan_status(pg_url, scan_id) == "completed"
    completed = results_of(pg_url, scan_id)
    counts_agree(pg_url, scan_id)

    # The files A holds answers for change, one is deleted, and a local scan sees that.
    relpaths = [
        r
        for (r,) in query(
            pg_url,
            f"SELECT relpath FROM work_items WHERE id IN ({','.join(map(str, held))}) ORDER BY id",
        )
    ]
    for relpath in relpaths[1:]:
        (root / relpath).write_bytes(bigger_model())
    (root / relpaths[0]).unlink()
    local = subprocess.run(
        omscan_command("scan", str(root), "--db", pg_url, "--json"), capture_output=True, text=True
    )
    assert local.returncode == 0, local.stderr
    later = json.loads(local.stdout)["scan_id"]
    files = query(pg_url, "SELECT * FROM model_files ORDER BY id")
    assert (
        value(pg_url, f"SELECT removed_scan_id FROM model_files WHERE relpath = '{relpaths[0]}'")
        == later
    )

    paused.send_signal(signal.SIGCONT)
    # Every held item comes out of A's pipeline: an answer the fence drops, or (a file
    # looked up only now, and gone) a miss.
    wait_for(
        lambda: (
            value(pg_url, "SELECT late_answers FROM workers WHERE host = 'paused'")
            + value(pg_url, "SELECT count(*) FROM work_misses WHERE host = 'paused'")
            == len(held)
            or paused.poll() is not None
        )
    )
    assert paused.poll() is None, f"worker A ended: {paused.communicate()[1]}"
    paused.send_signal(signal.SIGTERM)
    out, err = paused.communicate(timeout=60)
    assert paused.returncode == 0, err
    summary = json.loads(out)
    assert summary["files_late"] + summary["files_handed_back"] == len(held)
    assert summary["files_done"] == done_by(pg_url, "paused")

    assert results_of(pg_url, scan_id) == completed  # not one row of the completed scan
    assert query(pg_url, "SELECT * FROM model_files ORDER BY id") == files  # nor a file
    counts_agree(pg_url, scan_id)
    assert scan_status(pg_url, scan_id) == "completed"
    report = CliRunner().invoke(cli, ["report", "--db", pg_url, "--format", "json"])
    assert relpaths[0] not in report.output  # the deleted file does not come back
    progress = status_json(pg_url, "--scan", str(scan_id))
    assert progress["done"] == 2000
    by_host = {w["host"]: w for w in progress["workers"]}  # type: ignore[attr-defined]
    assert by_host["paused"]["done"] + by_host["drainer"]["done"] == 2000
    assert by_host["paused"]["late"] == summary["files_late"]


@pytest.mark.asyncio
async def test_a_scan_never_undoes_what_a_later_scan_recorded(db_url: str) -> None:
    """Written late (an old distributed scan still draining), a result neither moves a
    file's last scan back, nor its stat back, nor brings back a file a later scan found
    removed; a result of a scan after the removal does."""
    async with open_store(db_url) as store:
        old = await store.start_scan([ROOT], "h", "om", [], {})
        new = await store.start_scan([ROOT], "h", "om", [], {})
        await store.write_results(new, [item("a.om", ok(2, 2), size=200)])
        await store.write_results(old, [item("a.om", ok(1, 1), size=100)])
        (row,) = await store.fetch("SELECT last_scan_id, size FROM model_files")
        assert (row["last_scan_id"], row["size"]) == (new, 200)
        await store.carry_forward(old, list((await store.previous_files(ROOT)).values()))
        (row,) = await store.fetch("SELECT last_scan_id FROM model_files")
        assert row["last_scan_id"] == new

        remover = await store.start_scan([ROOT], "h", "om", [], {})
        (file,) = await store.fetch("SELECT id FROM model_files")
        assert await store.mark_removed(remover, [file["id"]]) == 1
        await store.write_results(new, [item("a.om", ok(3, 3))])  # older than the removal
        (row,) = await store.fetch("SELECT removed_scan_id FROM model_files")
        assert row["removed_scan_id"] == remover
        assert await store.fetch("SELECT * FROM latest_results") == []

        back = await store.start_scan([ROOT], "h", "om", [], {})
        await store.write_results(back, [item("a.om", ok(4, 4))])
        (row,) = await store.fetch("SELECT removed_scan_id, last_scan_id FROM model_files")
        assert (row["removed_scan_id"], row["last_scan_id"]) == (None, back)


def test_an_old_distributed_scan_drained_after_a_newer_local_scan_changes_nothing_it_saw(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    """Scan 1 records the files; distributed scan 2 queues them all; a file is deleted
    and another rewritten; local scan 3 records both; then workers drain scan 2."""
    root = tmp_path / "repo"
    many_models(root, 40)

    def local_scan() -> int:
        done = subprocess.run(
            omscan_command("scan", str(root), "--db", pg_url, "--json"),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["scan_id"])

    local_scan()
    queued = CliRunner().invoke(
        cli, ["scan", "--distributed", str(root), "--db", pg_url, "--full", "--json"]
    )
    assert queued.exit_code == 0, queued.output
    old = json.loads(queued.output)["scan_id"]
    (root / "d0" / "m0.om").unlink()
    (root / "d1" / "m1.om").write_bytes(bigger_model())
    newer = local_scan()
    files = query(pg_url, "SELECT * FROM model_files ORDER BY id")
    assert (
        value(pg_url, "SELECT removed_scan_id FROM model_files WHERE relpath = 'd0/m0.om'") == newer
    )

    worker = start_worker(workers, pg_url, "late", "--exit-when-idle")
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 1, err  # the deleted file: `changed` for the old scan
    assert scan_status(pg_url, old) == "completed"
    assert query(
        pg_url,
        f"SELECT f.relpath, r.status FROM results r JOIN model_files f ON f.id = r.file_id"
        f" WHERE r.scan_id = {old} AND r.status <> 'ok'",
    ) == [("d0/m0.om", "changed")]
    assert query(pg_url, "SELECT * FROM model_files ORDER BY id") == files  # removal, stat, scan
    report = CliRunner().invoke(cli, ["report", "--db", pg_url, "--format", "json"])
    assert report.exit_code == 0 and "d0/m0.om" not in report.output
    # The file changed after the old walk: the newer scan's answer is the latest.
    assert value(pg_url, "SELECT scan_id FROM latest_results WHERE relpath = 'd1/m1.om'") == newer


# --- 3. a host that cannot read a file ----------------------------------------------


def test_a_file_one_host_cannot_open_is_answered_by_a_host_that_can(
    public_dir: Path,
    pg_url: str,
    workers: Workers,
) -> None:
    runner = unprivileged_python()
    if os.geteuid() != 0 or runner is None:
        pytest.skip("needs root and setpriv to run a worker as nobody")
    python, env = runner
    env = {**env, "HOME": str(public_dir)}  # asyncpg looks for client keys in $HOME
    root = public_dir / "repo"
    many_models(root, 30)
    for path, dirs, files in os.walk(public_dir):
        for name in dirs:
            os.chmod(os.path.join(path, name), 0o755)
        for name in files:
            os.chmod(os.path.join(path, name), 0o644)
    secret = root / "d3" / "m3.om"
    secret.chmod(0o600)  # root's alone

    migrated(pg_url)
    able = start_worker(workers, pg_url, "able", "--lease-seconds", "60")
    wait_for(lambda: value(pg_url, "SELECT count(*) FROM workers") == 1)
    able.send_signal(signal.SIGSTOP)  # alive (its lease holds) but not claiming yet
    scan_id = enqueue(pg_url, root)["scan_id"]
    # --jobs 1: nobody may not run this interpreter again for a reader process.
    unable = start_worker(
        workers, pg_url, "unable", "--exit-when-idle", "--jobs", "1", python=python, env=env
    )
    wait_for(
        lambda: (
            value(pg_url, "SELECT count(*) FROM work_misses WHERE host = 'unable'") == 1
            and value(pg_url, "SELECT count(*) FROM work_items WHERE state = 'done'") == 29
        )
    )
    assert query(pg_url, "SELECT relpath, state FROM work_items WHERE state <> 'done'") == [
        ("d3/m3.om", "queued")  # handed back: a live host has not tried it
    ]
    able.send_signal(signal.SIGCONT)
    out, err = unable.communicate(timeout=120)
    assert unable.returncode == 0, err
    summary = json.loads(out)
    assert (summary["files_done"], summary["files_handed_back"]) == (29, 1)
    wait_for(lambda: scan_status(pg_url, scan_id) == "completed")
    assert query(
        pg_url,
        "SELECT w.relpath, w.status, k.host FROM work_items w JOIN workers k ON k.id = w.done_by"
        " WHERE w.relpath = 'd3/m3.om'",
    ) == [("d3/m3.om", "ok", "able")]
    assert query(pg_url, "SELECT host, error FROM work_misses") == [
        ("unable", "cannot read file: Permission denied")
    ]
    assert query(
        pg_url, f"SELECT status, count(*) FROM results WHERE scan_id = {scan_id} GROUP BY 1"
    ) == [("ok", 30)]


class FailsToRead:
    """The om backend, except that one file's read fails here (an I/O error on this
    host's mount)."""

    name, query_slots, chunk = "om", 1, 64

    def __init__(self, relpath: str) -> None:
        self.relpath = relpath
        self.inner = OmBackend(LocalFiles())

    def memory_cost(self, entry: ModelFile) -> int:
        return 0

    async def load(self, entry: ModelFile) -> Loaded | Answer:
        if entry.relpath == self.relpath:
            failed = QueryResult(ret=None, error="read failed: Input/output error")
            return Answer(failed, self.name, None, 0.0)
        return await self.inner.load(entry)

    async def query(self, entry: ModelFile, loaded: Loaded) -> Answer:
        return await self.inner.query(entry, loaded)

    async def query_chunk(self, items: Sequence[tuple[ModelFile, Loaded]]) -> list[Answer]:
        return await self.inner.query_chunk(items)


@pytest.mark.asyncio
async def test_a_read_error_on_one_host_is_a_miss_answered_by_another(
    tmp_path: Path, pg_url: str
) -> None:
    root = tmp_path / "repo"
    many_models(root, 10)
    async with open_store(pg_url) as store:
        summary = await enqueue_scan(store, ScanOptions(roots=[str(root)]))
        other = await WorkQueue(store).register("b", "om", [])  # alive: the miss waits for b
        stop = anyio.Event()
        options = WorkerOptions(host="a", poll_seconds=0.05)
        async with anyio.create_task_group() as group:

            async def failing() -> None:
                worker = await run_worker(store, FailsToRead("d2/m2.om"), options, stop=stop)
                assert (worker.stored, worker.handed_back) == ({"ok": 9}, 1)

            group.start_soon(failing)
            while not await store.fetch("SELECT 1 FROM work_misses"):
                await anyio.sleep(0.05)
            assert (await drain(store, host="b")).stored == {"ok": 1}
            stop.set()
        assert other > 0
        (row,) = await store.fetch(
            "SELECT w.status, k.host, m.error FROM work_items w JOIN workers k"
            " ON k.id = w.done_by JOIN work_misses m ON m.item_id = w.id"
        )
        assert (row["status"], row["host"]) == ("ok", "b")
        assert row["error"] == "read failed: Input/output error"
        (scan,) = await store.fetch("SELECT status FROM scans WHERE id = :s", s=summary.scan_id)
        assert scan["status"] == "completed"


# --- 4. links out of the root -------------------------------------------------------


def test_workers_refuse_paths_that_links_lead_out_of_the_root(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    many_models(root, 40)
    outside.mkdir()
    (outside / "m2.om").write_bytes(bigger_model())
    (outside / "m22.om").write_bytes(bigger_model())
    (outside / "elsewhere.om").write_bytes(bigger_model())
    scan_id = enqueue(pg_url, root)["scan_id"]
    # Between the walk and the claim: files and a directory replaced by links out.
    (root / "d0" / "m0.om").unlink()
    (root / "d0" / "m0.om").symlink_to(outside / "elsewhere.om")
    (root / "d1" / "m1.om").unlink()
    (root / "d1" / "m1.om").symlink_to("/etc/passwd")
    (root / "d2").rename(tmp_path / "d2-moved")
    (root / "d2").symlink_to(outside)
    (root / "d3" / "m3.om").unlink()  # a link that stays inside is followed, as by the walk
    (root / "d3" / "m3.om").symlink_to(root / "d4" / "m4.om")

    worker = start_worker(workers, pg_url, "w", "--exit-when-idle")
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 1, err
    refused = query(
        pg_url,
        "SELECT f.relpath, r.status, r.error, r.bytes_read FROM results r"
        f" JOIN model_files f ON f.id = r.file_id WHERE r.scan_id = {scan_id}"
        " AND r.status <> 'ok' ORDER BY f.relpath",
    )
    leads = "refused: the path leads outside the repository, to"
    assert refused == [
        ("d0/m0.om", "unreadable", f"{leads} {outside / 'elsewhere.om'}", 0),
        ("d1/m1.om", "unreadable", f"{leads} /etc/passwd", 0),
        ("d2/m2.om", "unreadable", f"{leads} {outside / 'm2.om'}", 0),
        ("d2/m22.om", "unreadable", f"{leads} {outside / 'm22.om'}", 0),
    ]
    assert json.loads(out)["statuses"] == {"ok": 36, "unreadable": 4}
    small = query_path(root / "d4" / "m4.om").work_size
    assert value(pg_url, "SELECT count(DISTINCT work_size) FROM results WHERE status = 'ok'") == 1
    assert value(pg_url, "SELECT work_size FROM latest_results WHERE relpath = 'd3/m3.om'") == small

    # A scan that follows links out (--follow-outside) has its workers follow them too.
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "out.om").symlink_to(outside / "elsewhere.om")
    queued = CliRunner().invoke(
        cli, ["scan", "--distributed", str(linked), "--db", pg_url, "--follow-outside", "--json"]
    )
    assert queued.exit_code == 0, queued.output
    follower = start_worker(workers, pg_url, "w", "--exit-when-idle")
    out, err = follower.communicate(timeout=120)
    assert follower.returncode == 0, err
    assert json.loads(out)["statuses"] == {"ok": 1}


# --- 5. a worker that claims its own expired items again ----------------------------


def test_a_worker_that_claims_its_own_expired_items_again_does_each_once(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    root = tmp_path / "repo"
    many_models(root, 3000)  # enough to be still at work when paused
    scan_id = enqueue(pg_url, root)["scan_id"]
    worker = start_worker(
        workers, pg_url, "self", "--lease-seconds", LEASE, "--claim", "40", "--exit-when-idle"
    )
    held = pause_holding(worker, pg_url, "self")
    ids = ",".join(map(str, held))
    wait_for(
        lambda: value(
            pg_url, f"SELECT bool_and(lease_expires_at < now()) FROM work_items WHERE id IN ({ids})"
        )
    )

    async def requeue() -> None:  # what any claim does first, here with nothing claimed
        async with open_store(pg_url) as store:
            await WorkQueue(store).requeue_expired()

    def requeued() -> bool:
        anyio.run(requeue)  # rows locked by a transaction the worker was paused in are
        # skipped until the server ends that session (idle in transaction for a lease)
        states = f"SELECT DISTINCT state, expired FROM work_items WHERE id IN ({ids})"
        return query(pg_url, states) == [("queued", 1)]

    wait_for(requeued, what="the expired leases back in the queue, each counted once")
    worker.send_signal(signal.SIGCONT)
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    summary = json.loads(out)
    # Each file queried once and stored once: nothing redone, nothing late, no crash.
    assert (summary["files_done"], summary["files_queried"], summary["files_late"]) == (
        3000,
        3000,
        0,
    )
    assert scan_status(pg_url, scan_id) == "completed"
    assert (
        value(pg_url, f"SELECT count(DISTINCT file_id) FROM results WHERE scan_id = {scan_id}")
        == 3000
    )
    # One worker lost those leases once: counted once, not as many workers.
    assert query(
        pg_url, "SELECT max(expired), count(*) FILTER (WHERE expired > 0) FROM work_items"
    ) == [(1, len(held))]
    assert value(pg_url, "SELECT count(DISTINCT worker_id) FROM work_expiries") == 1
    assert status_json(pg_url)["leases_expired"] == len(held)


# --- 6. a dead host --------------------------------------------------------------------


def test_a_dead_host_does_not_keep_a_scan_waiting_for_it(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    """The only live host cannot find a file; another host died (never stopped). Once
    the dead host's deadline passes, the file is recorded and the scan ends."""
    root = tmp_path / "repo"
    many_models(root, 10)
    migrated(pg_url)
    dead = start_worker(workers, pg_url, "dead", "--lease-seconds", "20")
    wait_for(lambda: value(pg_url, "SELECT count(*) FROM workers") == 1)
    dead.kill()
    scan_id = enqueue(pg_url, root)["scan_id"]
    (root / "d0" / "m0.om").unlink()  # after the walk
    live = start_worker(workers, pg_url, "live", "--lease-seconds", LEASE, "--exit-when-idle")
    wait_for(lambda: value(pg_url, "SELECT count(*) FROM work_misses") == 1)
    waiting = CliRunner().invoke(cli, ["status", "--db", pg_url])
    if value(pg_url, "SELECT count(*) FROM work_items WHERE state = 'queued'") == 1:
        assert "1 handed back by hosts that cannot read them" in waiting.output, waiting.output
    _, err = live.communicate(timeout=120)
    assert live.returncode == 1, err  # a file recorded as `changed`
    assert scan_status(pg_url, scan_id) == "completed"
    assert query(pg_url, "SELECT status, error FROM latest_results WHERE status <> 'ok'") == [
        ("changed", "file gone since the walk (live: ENOENT: No such file or directory)")
    ]
    progress = status_json(pg_url)
    states = {w["host"]: w["state"] for w in progress["workers"]}  # type: ignore[attr-defined]
    assert states == {"live": "stopped"} and progress["live_workers"] == 0  # dead: not live


# --- 7. a coordinator killed or paused while walking -----------------------------------


def start_coordinator(tmp_path: Path, url: str) -> tuple[Path, subprocess.Popen[str]]:
    """`scan --distributed` of a new tree, once its walk is under way: the walk stalls
    at a directory (until a `.go` file appears beside it) while the process runs on."""
    root = tmp_path / "repo"
    many_models(root, 200)
    inject = str(Path(__file__).parent / "stall_walk")
    env = {**os.environ, "PYTHONPATH": inject, "OMSCAN_STALL_DIR": os.path.realpath(root / "d7")}
    command = omscan_command(
        "scan", "--distributed", str(root), "--db", url, "--lease-seconds", "3"
    )
    coordinator = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: (root / "d7.waiting").exists())
    return root, coordinator


def test_a_coordinator_killed_while_walking_is_found_dead_by_the_workers(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    _, coordinator = start_coordinator(tmp_path, pg_url)
    walking = CliRunner().invoke(cli, ["status", "--db", pg_url])
    assert "running (still walking)" in walking.output, walking.output
    coordinator.kill()
    coordinator.communicate()
    idle = [start_worker(workers, pg_url, f"w{i}", "--exit-when-idle") for i in range(2)]
    for worker in idle:
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
    assert scan_status(pg_url, 1) == "interrupted"
    assert "scan 1 interrupted" in CliRunner().invoke(cli, ["status", "--db", pg_url]).output


def test_a_coordinator_paused_past_its_lease_stores_nothing_once_it_resumes(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    root, coordinator = start_coordinator(tmp_path, pg_url)
    coordinator.send_signal(signal.SIGSTOP)
    worker = start_worker(workers, pg_url, "w", "--exit-when-idle")
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert scan_status(pg_url, 1) == "interrupted"
    before = [query(pg_url, f"SELECT count(*) FROM {table}") for table in ("results", "work_items")]
    (root / "d7.go").touch()
    coordinator.send_signal(signal.SIGCONT)
    _, err = coordinator.communicate(timeout=60)
    assert coordinator.returncode == 3, err
    one_line_error(err)
    assert "scan 1 is interrupted: nothing more is stored for it" in err
    assert scan_status(pg_url, 1) == "interrupted"  # not overwritten by the coordinator
    assert [
        query(pg_url, f"SELECT count(*) FROM {table}") for table in ("results", "work_items")
    ] == before


# --- 8. a frozen database link ---------------------------------------------------------


class Partition(Proxy):
    """The relay, which can also cut the link the way a network partition does: open
    connections carry nothing more and new ones are accepted but go nowhere."""

    partitioned = False

    def partition(self) -> None:
        self.partitioned = True
        self.freeze()

    def _pipe(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        if self.partitioned:
            self._frozen.add(source)
        super()._pipe(source, sink, upstream)


@pytest.fixture
def partition() -> Iterator[Partition]:
    relay = Partition()
    relay.start()
    yield relay
    relay.stop()


def test_a_frozen_database_link_stops_a_worker_within_its_lease_not_the_statement_timeout(
    tmp_path: Path, pg_url: str, workers: Workers, partition: Partition
) -> None:
    root = tmp_path / "repo"
    many_models(root, 2000)
    scan_id = enqueue(pg_url, root)["scan_id"]
    lease = 6.0
    via = make_url(pg_url).set(port=partition.port).render_as_string(hide_password=False)
    cut = start_worker(workers, via, "cut", "--lease-seconds", str(lease), "--claim", "100")
    wait_for(lambda: done_by(pg_url, "cut") > 0)  # at work through the relay
    partition.partition()
    started = time.monotonic()
    _, err = cut.communicate(timeout=3 * lease)  # not the 300 s statement timeout
    assert cut.returncode == 3, err
    one_line_error(err)
    assert time.monotonic() - started < 3 * lease
    assert "no answer from the server in time" in err or "could not renew its lease" in err

    rest = start_worker(workers, pg_url, "rest", "--exit-when-idle", "--lease-seconds", LEASE)
    _, err = rest.communicate(timeout=120)
    assert rest.returncode == 0, err
    assert scan_status(pg_url, scan_id) == "completed"
    assert query(
        pg_url, f"SELECT count(*), count(DISTINCT file_id) FROM results WHERE scan_id = {scan_id}"
    ) == [(2000, 2000)]
    counts_agree(pg_url, scan_id)


# --- smaller ------------------------------------------------------------------------


def test_claim_bounds_what_a_worker_holds_at_once(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    root = tmp_path / "repo"
    many_models(root, 300)
    scan_id = enqueue(pg_url, root)["scan_id"]
    one = start_worker(workers, pg_url, "one", "--claim", "1", "--exit-when-idle")
    five = start_worker(workers, pg_url, "five", "--claim", "5", "--exit-when-idle")
    most = {"one": 0, "five": 0}
    while scan_status(pg_url, scan_id) == "running":
        for host in most:
            most[host] = max(most[host], len(held_by(pg_url, host)))
    for worker in (one, five):
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    assert most["one"] == 1 and 1 <= most["five"] <= 5, most


def test_a_second_distributed_scan_of_roots_still_draining_is_refused(
    tmp_path: Path, pg_url: str
) -> None:
    root = tmp_path / "repo"
    many_models(root, 5)
    scan_id = enqueue(pg_url, root)["scan_id"]
    for again in (root, root / "d1"):
        result = CliRunner().invoke(cli, ["scan", "--distributed", str(again), "--db", pg_url])
        assert result.exit_code == 3
        assert result.output == (
            f"omscan: scan {scan_id} of {root} is still running on the workers; wait for it"
            f" to complete (omscan status --scan {scan_id})\n"
        )
    assert value(pg_url, "SELECT count(*) FROM scans") == 1

    async def work() -> None:
        async with open_store(pg_url) as store:
            await drain(store)

    anyio.run(work)
    assert enqueue(pg_url, root)["scan_id"] == scan_id + 1


@pytest.mark.parametrize(
    "option",
    [
        ("--lease-seconds", "nan"),
        ("--lease-seconds", "inf"),
        ("--lease-seconds", "1e300"),
        ("--lease-seconds", "0"),
        ("--lease-seconds", "-5"),
        ("--poll-seconds", "nan"),
        ("--poll-seconds", "-inf"),
        ("--poll-seconds", "0"),
        ("--claim", "1e20"),
        ("--claim", "100000000000000000000"),
        ("--claim", "0"),
    ],
)
def test_worker_options_are_checked_where_they_are_given(
    option: tuple[str, str], pg_url: str
) -> None:
    result = CliRunner().invoke(cli, ["worker", "--db", pg_url, *option])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option[0]}'" in result.output
    assert "Traceback" not in result.output
    assert value(pg_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'workers'") == 0


def test_status_needs_postgresql_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMSCAN_DB", raising=False)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 3
    assert result.output == (
        "omscan: distributed scans need a PostgreSQL database, not sqlite:///omscan.db\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_status_names_the_scan_asked_for_and_lists_idle_live_workers(
    tmp_path: Path, pg_url: str, workers: Workers
) -> None:
    missing = CliRunner().invoke(cli, ["status", "--db", pg_url, "--scan", "0"])
    assert (missing.exit_code, missing.output) == (3, "omscan: no distributed scan 0\n")
    root = tmp_path / "repo"
    many_models(root, 20)
    enqueue(pg_url, root)

    async def work() -> None:
        async with open_store(pg_url) as store:
            await drain(store, host="done")

    anyio.run(work)
    start_worker(workers, pg_url, "idle")
    wait_for(lambda: value(pg_url, "SELECT count(*) FROM workers WHERE host = 'idle'") == 1)
    progress = status_json(pg_url)
    listed = {w["host"]: (w["state"], w["done"]) for w in progress["workers"]}  # type: ignore[attr-defined]
    assert listed == {"done": ("stopped", 20), "idle": ("alive", 0)}
    # The rate counts the time the workers worked (first claim to last answer), not since.
    span = "SELECT extract(epoch FROM max(done_at) - min(claimed_at)) FROM work_items"
    busy = value(pg_url, span)
    assert progress["rate"] == round(20 / float(busy), 1) and progress["live_workers"] == 1
    table = CliRunner().invoke(cli, ["status", "--db", pg_url])
    assert "scan 1 completed: 20/20 done" in table.output
    assert "idle" in table.output


@pytest.mark.asyncio
async def test_migration_0003_keeps_the_queue_and_goes_back(db_url: str) -> None:
    async with open_store(db_url, migrate_schema=False) as store:
        await store.upgrade("0002")
        scan = await store.start_scan(["/r"], "h", "distributed", [], {})
        async with store.transaction() as conn:
            await conn.execute(
                text(
                    "INSERT INTO workers (host, pid, backend, devices, started_at, heartbeat_at)"
                    " VALUES ('h', 1, 'om', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO work_items (scan_id, repository_id, relpath, state, attempts,"
                    " expired) VALUES (:s, 1, 'a.om', 'queued', 0, 0)"
                ),
                {"s": scan},
            )
        await store.upgrade()
        (worker,) = await store.fetch("SELECT deadline_at, late_answers FROM workers")
        assert (worker["deadline_at"], worker["late_answers"]) == (None, 0)  # not alive
        (item,) = await store.fetch("SELECT relpath, claimed_at FROM work_items")
        assert (item["relpath"], item["claimed_at"]) == ("a.om", None)
        assert await store.fetch("SELECT * FROM work_expiries") == []
        await store.downgrade("0002")
        assert await store.current_revision() == "0002"
        (item,) = await store.fetch("SELECT * FROM work_items")
        assert "claimed_at" not in item and item["relpath"] == "a.om"
        await store.upgrade()
