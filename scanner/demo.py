"""A small demo model repository, made with the writer, to try omscan with no models at hand.

It holds what a real fleet holds: models of every header era, a dynamic model, a
multi-model file, a flow model, an OM2 archive, a corrupt file, an IR-only model, and a
Git LFS pointer.
"""

from __future__ import annotations

from pathlib import Path

from .om.layout import MODEL_DEF
from .om.om2_writer import Om2Params, write_om2
from .om.writer import Blob, Input, ModelParams, OmSpec, build_om, spec_for, write_om

LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345678\n"
)

MODELS: dict[str, ModelParams] = {
    "vision/resnet50.om": ModelParams(
        name="resnet50",
        memory_size=89_653_248,
        weight_size=51_380_224,
        era="2023",
        soc_version="Ascend310P3",
        atc_version="7.0.0",
        inputs=[Input("images", "float16", (8, 3, 224, 224))],
    ),
    "vision/legacy/yolov3.om": ModelParams(
        name="yolov3",
        memory_size=231_211_008,
        weight_size=123_863_040,
        era="2020",
        soc_version="Ascend310",
        atc_version="1.75.22.0.220",
        inputs=[Input("input", "uint8", (1, 416, 416, 3))],
    ),
    "vision/legacy/ocr_det.om": ModelParams(
        name="ocr_det",
        memory_size=33_554_432,
        weight_size=2_457_600,
        era="2022",
        soc_version="Ascend310",
        inputs=[Input("x", "float32", (1, 3, 640, 640))],
    ),
    "nlp/bert_dynamic.om": ModelParams(
        name="bert_dynamic",
        memory_size=0,
        weight_size=438_000_640,
        era="2023",
        dynamic=True,
        soc_version="Ascend910B",
        inputs=[Input("input_ids", "int64", (-1, 512))],
    ),
    "nlp/bert_multi.om": ModelParams(
        name="bert_multi",
        memory_size=0,
        weight_size=10_485_760,
        era="2023",
        submodels=2,
        soc_version="Ascend910B",
        inputs=[Input("input_ids", "int64", (-1, -1))],
    ),
    "speech/flow_asr.om": ModelParams(
        name="flow_asr",
        memory_size=4_194_304,
        weight_size=1_048_576,
        era="2023",
        flow=True,
    ),
}


OM2_MODELS: dict[str, Om2Params] = {
    "vision/om2/detector.om": Om2Params(
        name="detector", work_size=52_428_800, internal_weight_size=25_165_824, soc="Ascend910B"
    ),
}


def make_demo(root: Path) -> list[Path]:
    """Write the demo repository under ``root``; returns the files written."""
    written = []
    for relpath, params in MODELS.items():
        written.append(_write(root / relpath, params))
    for relpath, om2 in OM2_MODELS.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        write_om2(root / relpath, om2)
        written.append(root / relpath)
    broken = root / "broken"
    broken.mkdir(parents=True, exist_ok=True)
    good = build_om(spec_for(ModelParams(name="truncated")))
    (broken / "truncated.om").write_bytes(good[: len(good) - 100])
    ir_only = OmSpec(submodels=[[Blob(MODEL_DEF, b"\x0a\x02ir")]], name="ir_only")
    write_om(broken / "ir_only.om", ir_only)
    (root / "vision" / "lfs_pointer.om").write_bytes(LFS_POINTER)
    written += [broken / "truncated.om", broken / "ir_only.om", root / "vision" / "lfs_pointer.om"]
    return written


def _write(path: Path, params: ModelParams) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_om(path, spec_for(params))
    return path
