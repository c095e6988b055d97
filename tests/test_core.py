"""The domain core's status words: which are final for unchanged bytes, which fail."""

from __future__ import annotations

from scanner.core import FAILURE_STATUSES, NOT_FAILURES, SETTLED_STATUSES, ModelFile, Status


def test_settled_statuses_are_the_answers_and_the_placeholders() -> None:
    assert set(SETTLED_STATUSES) == {"ok", "failed", "lfs_pointer", "empty"}
    assert all(Status(word).settled for word in SETTLED_STATUSES)
    retried = {"unreadable", "timeout", "worker_crashed", "changed", "abandoned"}
    assert {s.value for s in Status if not s.settled} == retried


def test_placeholders_are_recorded_not_failed() -> None:
    assert set(NOT_FAILURES) == {"ok", "lfs_pointer", "empty"}
    assert "failed" in FAILURE_STATUSES and "unreadable" in FAILURE_STATUSES
    assert set(NOT_FAILURES).isdisjoint(FAILURE_STATUSES)
    assert set(NOT_FAILURES) | set(FAILURE_STATUSES) == {s.value for s in Status}


def test_a_status_is_the_stored_word() -> None:
    assert Status.LFS_POINTER == "lfs_pointer" and f"{Status.WORKER_CRASHED}" == "worker_crashed"


def test_a_posix_file_s_version_token_changes_with_device_inode_and_mtime() -> None:
    base = ModelFile("/r", "a.om", 10, mtime_ns=5, inode=7, device=1)
    assert base.version == "1:7:5"
    others = [
        ModelFile("/r", "a.om", 10, mtime_ns=6, inode=7, device=1),
        ModelFile("/r", "a.om", 10, mtime_ns=5, inode=8, device=1),
        ModelFile("/r", "a.om", 10, mtime_ns=5, inode=7, device=2),
    ]
    assert all(other.version != base.version for other in others)
