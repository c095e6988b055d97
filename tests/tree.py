"""A model repository tree for end-to-end scans, with the answer for every file.

Made by the project's own writers, so it needs nothing from outside: models of every
header era (plain, dynamic, multi-model, flow), OM2 archives (one and several models,
under a folder, compressed metadata, broken), and what real repositories also hold:
nested folders, Git LFS pointers, an empty placeholder, a symlink loop, a dangling link,
links out of the tree, a hard link, `.git`. Every answer comes from the writer's
parameters and the format's rules (om-format.md), never from the reader under test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from scanner.demo import LFS_POINTER, MODELS, OM2_MODELS, make_demo
from scanner.om.om2_writer import Om2Params, write_om2
from scanner.om.writer import ModelParams, spec_for, write_om

PARAM_INVALID = 145000  # ACL_ERROR_GE_PARAM_INVALID: a corrupt or truncated .om
DATA_SIZE_INVALID = 145006  # ACL_ERROR_GE_EXEC_MODEL_DATA_SIZE_INVALID: shorter than a header
GE_FAILURE = 500002  # ACL_ERROR_GE_FAILURE: trailing bytes; an unreadable OM2 archive


@dataclass(frozen=True)
class Want:
    status: str
    ret: int | None = None
    work_size: int = 0
    weight_size: int = 0


def om_answer(params: ModelParams) -> Want:
    """What `aclmdlQuerySizeFromMem` answers for a writer-made model (om-format.md §1):
    only a header of version 2 (not the 2020 era) can be dynamic; a dynamic file
    answers no work size and the weights of every sub-model; a 2020 file with several
    sub-models is walked as one, leaving bytes after it: rejected."""
    several = params.submodels > 1
    dynamic = params.era != "2020" and (params.dynamic or several)
    if several and not dynamic:
        return Want("failed", GE_FAILURE)
    submodels = params.submodels if dynamic else 1
    return Want("ok", 0, 0 if dynamic else params.memory_size, params.weight_size * submodels)


def fleet() -> dict[str, ModelParams]:
    """Each header era with each kind of model; sizes distinct per file."""
    models: dict[str, ModelParams] = {}
    for index, era in enumerate(("2020", "2022", "2023")):
        kinds = {
            "plain": {},
            "dynamic": {"dynamic": True},
            "multi": {"submodels": 3},
            "flow": {"flow": True},
        }
        for offset, (kind, extra) in enumerate(kinds.items()):
            memory = 1_000_003 * (index + 1) + 17 * offset
            weight = 40_009 * (index + 1) + 13 * offset
            models[f"fleet/{era}/{kind}.om"] = ModelParams(
                name=f"{kind}_{era}", memory_size=memory, weight_size=weight, era=era, **extra
            )  # type: ignore[arg-type]
    return models


# OM2 archives and what each answers (§8: the last model's work size in directory
# order, the constants' weight size).
OM2_FLEET: dict[str, tuple[Om2Params, Want]] = {
    "om2/three_models.om": (
        Om2Params(name="three", models=3, work_sizes=[10_000, 30_000, 20_000]),
        Want("ok", 0, 20_000, 4096),
    ),
    "om2/under_a_folder.om": (
        Om2Params(name="folder", work_size=123_456, internal_weight_size=789, root="m/"),
        Want("ok", 0, 123_456, 789),
    ),
    "om2/compressed_meta.om": (
        Om2Params(name="zipped", work_size=654_321, internal_weight_size=987, compress_json=True),
        Want("ok", 0, 654_321, 987),
    ),
    "om2/invalid_meta.om": (Om2Params(defect="invalid_meta"), Want("failed", GE_FAILURE)),
    "om2/truncated.om": (Om2Params(defect="truncated"), Want("failed", GE_FAILURE)),
}


def build_tree(root: Path, outside: Path) -> dict[str, Want]:
    """Fill ``root``; ``outside`` is a directory beyond it that links point into."""
    want: dict[str, Want] = {}
    make_demo(root / "demo")
    for relpath, params in MODELS.items():
        want[f"demo/{relpath}"] = om_answer(params)
    for relpath, om2 in OM2_MODELS.items():
        want[f"demo/{relpath}"] = Want("ok", 0, om2.work_size, om2.internal_weight_size)
    want["demo/broken/truncated.om"] = Want("failed", PARAM_INVALID)
    want["demo/broken/ir_only.om"] = Want("failed", PARAM_INVALID)
    want["demo/vision/lfs_pointer.om"] = Want("lfs_pointer")
    for relpath, params in fleet().items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        write_om(root / relpath, spec_for(params))
        want[relpath] = om_answer(params)
    for relpath, (om2_params, answer) in OM2_FLEET.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        write_om2(root / relpath, om2_params)
        want[relpath] = answer
    (root / "deep/a/b/c").mkdir(parents=True)
    (root / "deep/a/b/c/placeholder.om").write_bytes(b"")
    want["deep/a/b/c/placeholder.om"] = Want("empty")
    (root / "deep/a/b/c/tiny.om").write_bytes(b"IM")
    want["deep/a/b/c/tiny.om"] = Want("failed", DATA_SIZE_INVALID)
    (root / "deep/a/b/c/pointer.om").write_bytes(LFS_POINTER)
    want["deep/a/b/c/pointer.om"] = Want("lfs_pointer")
    os.symlink(root / "deep", root / "deep/a/b/loop")  # a loop: walked once
    (root / "zz").mkdir()
    os.symlink(root / "demo/vision/resnet50.om", root / "zz/alias.om")  # walked after: skipped
    os.link(root / "fleet/2023/plain.om", root / "zz/hard.om")  # the same file: skipped
    os.symlink(root / "zz/missing.om", root / "zz/dangling.om")
    want["zz/dangling.om"] = Want("unreadable")
    plain = fleet()["fleet/2022/plain.om"]
    write_om(root / "zz/listed_after.om", spec_for(plain))  # the listing goes on after it
    want["zz/listed_after.om"] = om_answer(plain)
    (outside / "escape.om").write_bytes(b"not scanned")
    os.symlink(outside, root / "zz/outside")  # leaves the root: not followed
    os.symlink(outside / "escape.om", root / "zz/escape.om")
    (root / ".git/lfs").mkdir(parents=True)
    (root / ".git/lfs/object.om").write_bytes(b"never walked")
    (root / "demo/README.txt").write_text("not a model")
    return want
