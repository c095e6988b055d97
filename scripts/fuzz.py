"""Coverage-guided fuzzing of the reader (classic `.om` and OM2) with atheris.

    python scripts/fuzz.py [--target bytes|om2|submodels] [--runs 1000000] [--max-len 65536]

Targets, each run on its own (one libFuzzer process):

- ``bytes``: the input is the model. Seeds: the shared corpus files under 64 KiB and
  writer-made models of every era and kind, OM2 archives included.
- ``om2``: the input drives a generator of OM2 archives: members (JSON of every shape
  the bounds are about: whitespace, objects, numbers, nesting, strings, real metadata;
  stored or deflated), directory records that share members (overlapping entries) or
  lie about sizes, and a few bytes patched afterwards. The reader's OM2 bounds are
  scaled down 256 times (JSON entry 64 KiB, 256 KiB per model, 4,096 values, 32 KiB of
  directory, 400 entries) so that inputs of a few KiB reach them, at fuzzing speed.
- ``submodels``: the input drives a generator of classic `.om` files made of sub-model
  tables: any era, flow or not, dynamic headers with no sub-model, ``model_num`` far
  above or below the tables written, up to 9 partitions of any type, real MODEL_DEF and
  TASK_INFO partitions now and then, lying payload lengths and trailing bytes.

Every input is queried with the inventory (as the scan asks for it) and must give an API
answer (``ret`` set: nothing read out of bounds), an inventory exactly when it succeeds,
partition counts that add up, and nothing but the reader's own errors inside; libFuzzer
stops on anything else, on an input over the per-input time limit (-timeout) or over the
memory limit (-rss_limit_mb). A crash found becomes a regression test in
tests/test_reader_fuzz.py. libFuzzer's last lines give the count, the time ("Done N runs
in S second(s)") and the peak memory ("rss: NMb").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from scanner.om import AclError, QueryResult, query_bytes
    from scanner.om import om2 as om2_reader

from scanner.om.layout import MODEL_DEF, PARTITION_TYPES, TASK_INFO
from scanner.om.om2_writer import Om2Params, Payload, build_om2, raw_archive
from scanner.om.writer import (
    Blob,
    ModelParams,
    OmSpec,
    build_om,
    endless_flow_model,
    many_submodels,
    model_def,
    spec_for,
    task_info,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "om-corpus"
CODES = {int(code) for code in AclError}
SCALE = 256  # the om2 target's bounds: the reader's divided by this


def seeds() -> list[bytes]:
    made = [
        build_om(spec_for(ModelParams(era=era, weight_size=64, kernels=16, **extra)))  # type: ignore[arg-type]
        for era in ("2020", "2022", "2023")
        for extra in ({}, {"dynamic": True}, {"submodels": 2}, {"flow": True})
    ]
    made += [build_om2(Om2Params(constants_size=64)), build_om2(Om2Params(models=2))]
    made += [build_om(many_submodels(70)), build_om(endless_flow_model(40))]
    made += [build_om(OmSpec(submodels=[], is_unknow_model=1, model_num=0))]
    real = [p.read_bytes() for p in sorted(CORPUS.glob("*.om")) if p.stat().st_size < 65536]
    return made + real


def check(data: bytes) -> None:
    result = query_bytes(data, inventory=True)
    if result.ret is None:
        raise AssertionError(f"no API answer: {result.error}")
    if result.ret not in CODES:
        raise AssertionError(f"unknown code {result.ret}")
    if result.ok != (result.inventory is not None):
        raise AssertionError(f"ret {result.ret} with inventory {result.inventory is not None}")
    # A classic file is read at most once (plus the 4-byte format probe); zipfile reads
    # an archive's end records twice, and each local header apart from its data.
    limit = 2 * len(data) + 1024 if result.format == "om2" else len(data) + 4
    if result.bytes_read > limit:
        raise AssertionError(f"{result.bytes_read} bytes read of {len(data)}")
    _check_partitions(result)


def _check_partitions(result: QueryResult) -> None:
    inv = result.inventory
    if inv is None or inv.format != "om":
        return
    counted = len(inv.partitions) or sum(t.count for t in inv.partition_totals)
    if counted != inv.partition_count or (inv.partitions and inv.partition_totals):
        raise AssertionError(f"partitions do not add up: {inv}")


# --- om2: archives from a generator ------------------------------------------------------

NAMES = [
    "data/model_{i}/model_meta.json",
    "data/constants/model_{i}_constants_config.json",
    "manifest.json",
    "m{i}/manifest.json",
    "data/kernels_Ascend310P3/k{i}.o",
    "data/model_{i}/runtime/lib.so",
    "x{i}model_meta.json",
]


def json_document(fdp: atheris.FuzzedDataProvider) -> bytes:
    """One JSON entry: real metadata, or a shape that is costly to inflate or parse."""
    shape = fdp.ConsumeIntInRange(0, 9)
    size = fdp.ConsumeIntInRange(0, 3 * om2_reader.JSON_LIMIT // 2)
    value = fdp.PickValueInList([0, 1, -1, 2**64, 2**64 + 5, 1.5e300, "7", True, None, []])
    head = json.dumps({"work_size": value, "internal_weight_size": value})[:-1].encode()
    unit, tail = {
        0: (b" ", b"}"),
        1: (b',"a":{}', b"}"),
        2: (b',"n":0', b"}"),
        3: (b',"s":"' + b"a" * 64 + b'"', b"}"),
        4: (b',"l":[[[[', b"}"),
    }.get(shape, (b"", b"}"))
    if shape == 5:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256))
    if shape == 6:
        meta = {"name": "n", "work_size": value, "inputs": [{"name": "x", "shape": [-1, 3]}]}
        return json.dumps(meta).encode()
    if shape == 7:
        return json.dumps({"om2_version": "0", "model_num": value}).encode()
    return head + unit * (size // max(1, len(unit)) if unit else 0) + tail


def om2_archive(fdp: atheris.FuzzedDataProvider) -> bytes:
    members = []
    for index in range(fdp.ConsumeIntInRange(1, 6)):
        name = fdp.PickValueInList(NAMES).format(i=index)
        content = json_document(fdp)
        payload = Payload.deflate(content) if fdp.ConsumeBool() else Payload.store(content)
        members.append((name, payload))
    directory = [(name, index) for index, (name, _) in enumerate(members)]
    for share in range(fdp.ConsumeIntInRange(0, 3)):  # records sharing a member's bytes
        index = fdp.ConsumeIntInRange(0, len(members) - 1)
        name = members[index][0]  # another name of the same length, or the same name
        directory.append((name if fdp.ConsumeBool() else "pqr"[share] + name[1:], index))
    turn = fdp.ConsumeIntInRange(0, len(directory))
    directory = directory[turn:] + directory[:turn]
    data = bytearray(raw_archive(members, directory))
    for _ in range(fdp.ConsumeIntInRange(0, 3)):  # lies: sizes, offsets, methods, names
        at = fdp.ConsumeIntInRange(0, len(data) - 1)
        data[at] = fdp.ConsumeIntInRange(0, 255)
    return bytes(data)


def scale_down_om2_bounds() -> None:
    for name in ("JSON_LIMIT", "JSON_TOTAL_LIMIT", "JSON_VALUE_LIMIT", "DIRECTORY_LIMIT"):
        setattr(om2_reader, name, getattr(om2_reader, name) // SCALE)
    om2_reader.ENTRY_LIMIT = 400


# --- submodels: classic files from a generator -------------------------------------------

KINDS = [*PARTITION_TYPES, 99]


def submodel_file(fdp: atheris.FuzzedDataProvider) -> bytes:
    era = fdp.PickValueInList(["2020", "2022", "2023"])
    flow = fdp.ConsumeBool()
    tables = []
    for _ in range(fdp.ConsumeIntInRange(0, fdp.PickValueInList([2, 12, 80]))):
        blobs = []
        for _ in range(fdp.ConsumeIntInRange(0 if flow else 1, 9)):
            kind = fdp.PickValueInList(KINDS)
            if kind == MODEL_DEF and fdp.ConsumeBool():
                blobs.append(Blob(kind, model_def(ModelParams(name="m"))))
            elif kind == TASK_INFO and fdp.ConsumeBool():
                blobs.append(Blob(kind, task_info(fdp.ConsumeIntInRange(0, 1 << 40))))
            else:
                blobs.append(Blob(kind, zeros=fdp.ConsumeIntInRange(0, 40)))
            if fdp.ConsumeProbability() > 0.95:  # (an exhausted input gives 0)
                blobs[-1].declared = fdp.ConsumeIntInRange(0, (1 << 32) - 1)
        tables.append(blobs)
    written = len(tables)
    model_num = fdp.PickValueInList([written, 0, 1, written + 1, written - 1, (1 << 32) - 1])
    spec = OmSpec(
        submodels=tables,
        era=era,
        modeltype=3 if flow else fdp.PickValueInList([0, 1, 2, 4, 5]),
        model_num=max(0, model_num),
        is_unknow_model=fdp.ConsumeIntInRange(0, 2),
        trailing=fdp.ConsumeBytes(fdp.PickValueInList([0, 0, 0, 1, 9])),
    )
    if fdp.ConsumeProbability() > 0.95:
        spec.payload_length = fdp.ConsumeIntInRange(0, 1 << 20)
    return build_om(spec)


def generated(make: Callable[[atheris.FuzzedDataProvider], bytes]) -> Callable[[bytes], None]:
    def test_one_input(data: bytes) -> None:
        check(make(atheris.FuzzedDataProvider(data)))

    return test_one_input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["bytes", "om2", "submodels"], default="bytes")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--max-len", type=int, default=65536)
    args, extra = parser.parse_known_args()
    seed_dir = Path(tempfile.mkdtemp(prefix=f"omscan-fuzz-{args.target}-"))
    if args.target == "bytes":
        target = check
        for index, seed in enumerate(seeds()):
            (seed_dir / f"seed{index}").write_bytes(seed)
    elif args.target == "om2":
        scale_down_om2_bounds()
        target = generated(om2_archive)
    else:
        target = generated(submodel_file)
    flags = [
        f"-runs={args.runs}",
        f"-max_len={args.max_len}",
        "-timeout=2",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        *extra,
        str(seed_dir),
    ]
    atheris.Setup([sys.argv[0], *flags], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
