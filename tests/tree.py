"""A model repository tree for end-to-end scans, with the answer for every file.

Real corpus files (copied into the test's temporary directory), writer-made models of
every era, and what real repositories also hold: nested folders, a Git LFS pointer, an
empty placeholder, a symlink loop, a dangling link, links out of the tree, `.git`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from scanner.demo import LFS_POINTER, MODELS, OM2_MODELS, make_demo

from .corpus import expected_rows


@dataclass(frozen=True)
class Want:
    status: str
    ret: int | None = None
    work_size: int = 0
    weight_size: int = 0


def build_tree(root: Path, outside: Path) -> dict[str, Want]:
    """Fill ``root``; ``outside`` is a directory beyond it that links point into."""
    want: dict[str, Want] = {}
    for index, row in enumerate(expected_rows()):
        relpath = f"corpus/group{index % 3}/{row.file}"
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(row.path, root / relpath)
        want[relpath] = Want(
            "ok" if row.ret == 0 else "failed", row.ret, row.work_size, row.weight_size
        )
    make_demo(root / "demo")
    for relpath, params in MODELS.items():
        dynamic = params.dynamic or params.submodels > 1
        want[f"demo/{relpath}"] = Want(
            "ok", 0, 0 if dynamic else params.memory_size, params.weight_size * params.submodels
        )
    for relpath, om2 in OM2_MODELS.items():
        want[f"demo/{relpath}"] = Want("ok", 0, om2.work_size, om2.internal_weight_size)
    want["demo/broken/truncated.om"] = Want("failed", 145000)
    want["demo/broken/ir_only.om"] = Want("failed", 145000)
    want["demo/vision/lfs_pointer.om"] = Want("lfs_pointer")
    (root / "deep/a/b/c").mkdir(parents=True)
    (root / "deep/a/b/c/placeholder.om").write_bytes(b"")
    want["deep/a/b/c/placeholder.om"] = Want("empty")
    (root / "deep/a/b/c/tiny.om").write_bytes(b"IM")
    want["deep/a/b/c/tiny.om"] = Want("failed", 145006)
    (root / "deep/a/b/c/pointer.om").write_bytes(LFS_POINTER)
    want["deep/a/b/c/pointer.om"] = Want("lfs_pointer")
    os.symlink(root / "deep", root / "deep/a/b/loop")  # a loop: walked once
    (root / "zz").mkdir()
    os.symlink(root / "demo/vision/resnet50.om", root / "zz/alias.om")  # walked after: skipped
    os.symlink(root / "zz/missing.om", root / "zz/dangling.om")
    want["zz/dangling.om"] = Want("unreadable")
    (outside / "escape.om").write_bytes(b"not scanned")
    os.symlink(outside, root / "zz/outside")  # leaves the root: not followed
    os.symlink(outside / "escape.om", root / "zz/escape.om")
    (root / ".git/lfs").mkdir(parents=True)
    (root / ".git/lfs/object.om").write_bytes(b"never walked")
    (root / "demo/README.txt").write_text("not a model")
    return want
