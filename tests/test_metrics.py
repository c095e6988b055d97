"""`omscan scan --metrics-file`: a Prometheus text file for node_exporter's textfile
collector, read back with prometheus_client's own parser, on both databases."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .cli import run, write_model


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def test_metrics_file_has_the_scan_and_the_store_totals(tmp_path: Path, db_url: str) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    write_model(one / "a.om", 1000, 200)
    write_model(one / "b.om", 3000, 400)
    write_model(two / "c.om", 50, 5)
    (two / "broken.om").write_bytes(b"IMOD" + bytes(300))
    prom = tmp_path / "textfile" / "omscan.prom"
    prom.parent.mkdir()
    before = time.time()
    code, out = run(
        "scan", str(one), str(two), "--db", db_url, "--json", "--metrics-file", str(prom)
    )
    after = time.time()
    assert code == 1
    summary = json.loads(out)
    got = samples(prom)
    assert got[("omscan_scan_id", ())] == summary["scan_id"]
    assert got[("omscan_scan_completed", ())] == 1
    assert got[("omscan_scan_duration_seconds", ())] == summary["seconds"] > 0
    assert got[("omscan_scan_read_bytes", ())] == summary["bytes_read"] > 0
    assert got[("omscan_scan_files", (("status", "ok"),))] == 3
    assert got[("omscan_scan_files", (("status", "failed"),))] == 1
    repo_one, repo_two = str(one.resolve()), str(two.resolve())
    assert got[("omscan_repository_models", (("repository", repo_one),))] == 2
    assert got[("omscan_repository_work_memory_bytes", (("repository", repo_one),))] == 4000
    assert got[("omscan_repository_weight_memory_bytes", (("repository", repo_one),))] == 600
    assert got[("omscan_repository_work_memory_bytes", (("repository", repo_two),))] == 50
    finished = got[("omscan_last_completed_scan_timestamp_seconds", ())]
    assert before <= finished <= after
    assert [p.name for p in prom.parent.iterdir()] == ["omscan.prom"]  # no temporary left

    (one / "b.om").unlink()
    code, _ = run("scan", str(one), str(two), "--db", db_url, "--metrics-file", str(prom))
    assert code == 1
    got = samples(prom)
    assert got[("omscan_scan_id", ())] == summary["scan_id"] + 1
    assert got[("omscan_scan_removed_files", ())] == 1
    assert got[("omscan_scan_read_bytes", ())] == 0  # nothing changed was read again
    assert got[("omscan_repository_work_memory_bytes", (("repository", repo_one),))] == 1000
    assert got[("omscan_last_completed_scan_timestamp_seconds", ())] > finished


def test_metrics_file_usage_errors(tmp_path: Path, sqlite_url: str) -> None:
    root = tmp_path / "repo"
    write_model(root / "a.om", 1, 1)
    for bad in [tmp_path / "omscan.txt", tmp_path / "missing" / "omscan.prom"]:
        code, out = run("scan", str(root), "--db", sqlite_url, "--metrics-file", str(bad))
        assert code == 2 and "--metrics-file" in out
    code, out = run("scan", str(root), "--distributed", "--metrics-file", str(tmp_path / "x.prom"))
    assert code == 2 and "local scans" in out


def test_a_metrics_file_that_cannot_be_written_is_one_line_and_exit_3(
    tmp_path: Path, sqlite_url: str
) -> None:
    root = tmp_path / "repo"
    write_model(root / "a.om", 1, 1)
    blocked = Path("/sys/omscan.prom")  # sysfs: no new files, even for root
    code, out = run("scan", str(root), "--db", sqlite_url, "--metrics-file", str(blocked))
    assert code == 3
    assert out.strip().splitlines()[-1].startswith(f"omscan: metrics file {blocked}:")
    assert "Traceback" not in out
    code, out = run("scans", "--db", sqlite_url, "--format", "json")
    assert json.loads(out)[0]["status"] == "completed"  # the scan itself is kept
