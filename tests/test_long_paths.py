"""Paths longer than PATH_MAX cannot be opened by name: what lies there is recorded
`unreadable` with the reason, never skipped in silence, and the scan exits 1."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from scanner.cli import cli
from scanner.om.writer import ModelParams, build_om, spec_for
from scanner.sources.walk import PATH_MAX

MODEL = build_om(spec_for(ModelParams(memory_size=1000, weight_size=10, kernels=0)))
LEVEL = "d" * 200


def write(dir_fd: int, name: str) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dir_fd)
    os.write(fd, MODEL)
    os.close(fd)


def deep_tree(root: Path) -> tuple[str, str]:
    """A model at the top; directories nested (by descriptor: no path reaches the last)
    as deep as their paths stay under PATH_MAX; in the deepest, a model whose path is
    over it and one more directory, whose path is too, holding a model. Those two paths
    inside the root."""
    root.mkdir()
    write_at = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    write(write_at, "top.om")
    path = str(root)
    long_name = "m" * 240 + ".om"
    while len(path) + 1 + len(LEVEL) < PATH_MAX:
        os.mkdir(LEVEL, dir_fd=write_at)
        inner = os.open(LEVEL, os.O_RDONLY | os.O_DIRECTORY, dir_fd=write_at)
        os.close(write_at)
        write_at, path = inner, f"{path}/{LEVEL}"
    os.mkdir(LEVEL, dir_fd=write_at)
    write_at_last = os.open(LEVEL, os.O_RDONLY | os.O_DIRECTORY, dir_fd=write_at)
    write(write_at_last, long_name)  # below a directory whose path is too long
    os.close(write_at_last)
    write(write_at, long_name)  # a file whose own path is too long
    os.close(write_at)
    inside = os.path.relpath(path, root)
    return f"{inside}/{long_name}", f"{inside}/{LEVEL}"


def test_paths_past_path_max_are_recorded_unreadable_with_the_reason(
    tmp_path: Path, db_url: str
) -> None:
    long_file, long_dir = deep_tree(tmp_path / "repo")
    deepest = os.path.dirname(tmp_path / "repo" / long_dir)
    assert len(deepest) < PATH_MAX < len(str(tmp_path / "repo" / long_dir))
    runner = CliRunner()
    scan = runner.invoke(cli, ["scan", str(tmp_path / "repo"), "--db", db_url, "--json"])
    assert scan.exit_code == 1, scan.output  # unreadable is a failure
    assert json.loads(scan.output)["statuses"] == {"ok": 1, "unreadable": 2}
    out = runner.invoke(cli, ["report", "--db", db_url, "--format", "json", "--sort", "path"])
    rows = {row["relpath"]: row for row in json.loads(out.output)}
    assert rows["top.om"]["status"] == "ok"
    for relpath in (long_file, long_dir):
        assert rows[relpath]["status"] == "unreadable"
    errors = runner.invoke(
        cli,
        ["sql", "SELECT relpath, error FROM latest_results", "--db", db_url, "--format", "json"],
    )
    reasons = {row["relpath"]: row["error"] for row in json.loads(errors.output)}
    assert reasons[long_file].startswith("cannot read file: its path is")
    assert reasons[long_dir].startswith("cannot read directory: its path is")
    assert f"longer than PATH_MAX ({PATH_MAX})" in reasons[long_dir]
