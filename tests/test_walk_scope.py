"""Where the walk stops: a sibling whose name merely starts with the root's (`repo` and
`repo-other`, `d1` and `d10`) is outside it, whether reached by a link or by a prefix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scanner.sources.walk import LFS_PREFIX, WalkOptions, classify, walk

from .helpers import denying, many_models, omscan, query, write_model


@pytest.fixture
def repo_and_sibling(tmp_path: Path) -> tuple[Path, Path]:
    """``repo`` with one model of its own and links into ``repo-other`` beside it."""
    repo, sibling = tmp_path / "repo", tmp_path / "repo-other"
    write_model(repo / "own.om", 1, 1)
    write_model(sibling / "theirs.om", 2, 2)
    write_model(sibling / "nested" / "deep.om", 3, 3)
    os.symlink(sibling / "theirs.om", repo / "link.om")
    os.symlink(sibling, repo / "linked-dir")
    os.symlink("../repo-other/nested", repo / "relative-dir")
    return repo, sibling


def test_links_into_a_sibling_with_a_common_prefix_are_not_followed(
    repo_and_sibling: tuple[Path, Path],
) -> None:
    repo, _ = repo_and_sibling
    assert [e.relpath for e in walk([str(repo)], WalkOptions())] == ["own.om"]


def test_links_into_a_sibling_are_followed_when_asked(repo_and_sibling: tuple[Path, Path]) -> None:
    repo, _ = repo_and_sibling
    found = {e.relpath for e in walk([str(repo)], WalkOptions(follow_outside=True))}
    # the file behind link.om is the one linked-dir/theirs.om leads to: counted once
    assert found == {"own.om", "link.om", "linked-dir/nested/deep.om"}


def test_include_globs_match_the_path_inside_the_root_or_the_file_name(tmp_path: Path) -> None:
    for relpath in ("sub/a.om", "sub/b.bin", "other/c.om", "other/resnet.bin"):
        write_model(tmp_path / relpath, 1, 1)

    def found(*include: str) -> list[str]:
        return sorted(e.relpath for e in walk([str(tmp_path)], WalkOptions(include=include)))

    assert found("sub/*") == ["sub/a.om", "sub/b.bin"]  # the path inside the root
    assert found("resnet.bin") == ["other/resnet.bin"]  # the name alone
    assert found("*.om") == ["other/c.om", "sub/a.om"]
    options = WalkOptions(include=("*.om", "*.bin"), exclude=("sub/*",))
    assert sorted(e.relpath for e in walk([str(tmp_path)], options)) == [
        "other/c.om",
        "other/resnet.bin",
    ]


def test_a_dangling_link_is_unreadable_with_the_system_s_reason(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone.om", tmp_path / "a.om")
    write_model(tmp_path / "b.om", 1, 1)
    entries = list(walk([str(tmp_path)], WalkOptions()))
    assert [(e.relpath, e.status, e.error) for e in entries] == [
        ("a.om", "unreadable", "cannot read file: No such file or directory"),
        ("b.om", None, None),
    ]


@pytest.mark.parametrize(("size", "status"), [(1023, "lfs_pointer"), (1024, None)])
def test_only_files_under_1024_bytes_can_be_lfs_pointers(
    tmp_path: Path, size: int, status: str | None
) -> None:
    path = tmp_path / "m.om"
    path.write_bytes(LFS_PREFIX.ljust(size, b"\n"))
    (entry,) = walk([str(tmp_path)], WalkOptions())
    assert classify(entry).status == status


def test_an_unreadable_folder_keeps_only_its_own_files(tmp_path: Path) -> None:
    """`d1` cannot be listed: its files are unknown, so kept; `d10`, `d11` … are listed,
    so a file gone from them is removed, though their names start with `d1`."""
    root, url = tmp_path / "repo", f"sqlite:///{tmp_path / 'omscan.db'}"
    many_models(root, 40)  # d0 … d19, two models each: d1/m1.om, d1/m21.om, d10/m10.om …
    first = omscan("scan", str(root), "--db", url, "--json")
    assert first.returncode == 0, first.stderr
    (root / "d10" / "m10.om").unlink()
    (root / "d11" / "m11.om").unlink()
    second = omscan("scan", str(root), "--db", url, "--json", env=denying(root / "d1"))
    assert second.returncode == 1, second.stderr
    summary = json.loads(second.stdout)
    assert summary["statuses"] == {"unreadable": 1, "ok": 36}
    assert summary["files_removed"] == 2
    removed = query(url, "SELECT relpath FROM model_files WHERE removed_scan_id = 2")
    assert sorted(removed) == [("d10/m10.om",), ("d11/m11.om",)]
    kept = query(
        url,
        "SELECT relpath FROM model_files WHERE relpath LIKE 'd1/%' AND removed_scan_id IS NULL",
    )
    assert sorted(kept) == [("d1/m1.om",), ("d1/m21.om",)]
