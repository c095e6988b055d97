"""File names that are not valid UTF-8: stored losslessly, shown escaped, never mixed up
with a real name that reads like the escape, and everything else scanned as usual."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from scanner.cli import cli
from scanner.demo import make_demo
from scanner.store.names import disk_name, storable_text, stored_name

from .fleet import drain


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def name(raw: bytes) -> str:
    return os.fsdecode(raw)


# A name the walk can meet: any bytes but NUL and "/", and not "." or "..".
NAMES = st.binary(min_size=1, max_size=12).filter(
    lambda b: b"\0" not in b and b"/" not in b and b not in (b".", b"..")
)


@given(st.lists(NAMES, min_size=1, max_size=4), st.booleans())
def test_every_byte_path_survives_the_round_trip_and_is_storable(
    parts: list[bytes], absolute: bool
) -> None:
    raw = b"/" * absolute + b"/".join(parts)
    text = stored_name(name(raw))
    text.encode("utf-8")  # storable: no lone surrogate
    assert os.fsencode(disk_name(text)) == raw


def test_a_valid_name_that_reads_like_the_escape_stays_apart() -> None:
    invalid, lookalike = name(b"a\xff.om"), "a\\xff.om"
    assert stored_name(lookalike) == lookalike  # valid names are stored as they are
    assert stored_name(invalid) == "./a\\xff.om" != stored_name(lookalike)
    assert disk_name(stored_name(lookalike)) == lookalike
    assert stored_name(name(b"\\x41\xfe")) != stored_name(name(b"A\xfe"))


def test_free_text_quoting_a_name_is_storable() -> None:
    quoted = storable_text("cannot open " + name(b"/m/a\xff.om"))
    assert quoted is not None and quoted.encode("utf-8") and "\\udcff" in quoted
    assert storable_text("plain") == "plain" and storable_text(None) is None


BAD_FILE = b"bad\xff.om"
BAD_DIR = b"dir\xfe"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A model under an invalid name, one under an invalid directory, one whose valid name
    reads like the escape of the first, and an ordinary one."""
    make_demo(tmp_path / "demo")
    model = tmp_path / "demo/vision/resnet50.om"
    root = tmp_path / "repo"
    raw_root = os.fsencode(root)
    os.makedirs(raw_root + b"/" + BAD_DIR)
    for raw in (BAD_FILE, b"bad\\xff.om", BAD_DIR + b"/m.om", b"good.om"):
        shutil.copyfile(model, raw_root + b"/" + raw)
    return root


STORED = {"./bad\\xff.om", "bad\\xff.om", "./dir\\xfe/m.om", "good.om"}


def report(db: str) -> dict[str, str]:
    code, out = run("report", "--db", db, "--format", "json")
    assert code == 0, out
    return {row["relpath"]: row["status"] for row in json.loads(out)}


def test_names_that_are_not_utf8_are_scanned_stored_and_shown_escaped(
    tree: Path, db_url: str
) -> None:
    code, out = run("scan", str(tree), "--db", db_url, "--backend", "om", "--json")
    assert code == 0, out
    assert json.loads(out)["statuses"] == {"ok": 4}
    assert report(db_url) == dict.fromkeys(STORED, "ok")
    # Every stored text leads back to the very bytes on disk.
    for relpath in STORED:
        assert os.path.isfile(os.path.join(tree, disk_name(relpath)))

    code, out = run("scan", str(tree), "--db", db_url, "--backend", "om", "--json")
    summary = json.loads(out)
    assert (code, summary["files_unchanged"], summary["files_queried"]) == (0, 4, 0)

    os.unlink(os.fsencode(tree) + b"/" + BAD_FILE)
    code, out = run("scan", str(tree), "--db", db_url, "--backend", "om", "--json")
    assert (code, json.loads(out)["files_removed"]) == (0, 1)
    assert set(report(db_url)) == STORED - {"./bad\\xff.om"}
    code, out = run("diff", "--db", db_url, "--format", "json")
    assert code == 0
    changes = json.loads(out)["changes"]
    assert [(c["relpath"], c["change"]) for c in changes] == [("./bad\\xff.om", "removed")]

    code, out = run("history", str(tree / name(BAD_DIR) / "m.om"), "--db", db_url)
    assert code == 0 and out.count("./dir\\xfe/m.om") == 3
    code, out = run("sql", "SELECT relpath FROM latest_results ORDER BY relpath", "--db", db_url)
    assert code == 0 and "./dir\\xfe/m.om" in out and "\udcfe" not in out


@pytest.mark.asyncio
async def test_a_distributed_worker_finds_a_file_whose_name_is_not_utf8(
    tree: Path, pg_url: str
) -> None:
    from scanner.scan.distributed import enqueue_scan
    from scanner.scan.local import ScanOptions
    from scanner.store import open_store

    async with open_store(pg_url) as store:
        await enqueue_scan(store, ScanOptions(roots=[str(tree)]))
        worker = await drain(store)
        assert worker.progress.statuses == {"ok": 4}
        rows = await store.fetch("SELECT relpath, status FROM latest_results")
    assert {row["relpath"]: row["status"] for row in rows} == dict.fromkeys(STORED, "ok")
