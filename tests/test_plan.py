"""Capacity planning: the device catalogue, sizes as people type them, the plan and packing
arithmetic (with and without a shared work buffer), and `omscan plan` on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.ask.catalog import CatalogError, Device, load_catalog
from scanner.ask.plan import (
    Need,
    PlanError,
    Target,
    Wanted,
    copies_on,
    device_need,
    pack,
    parse_models_file,
    plan_models,
    wanted_models,
)
from scanner.units import parse_bytes

from .cli import run, write_model

GiB, MiB = 1 << 30, 1 << 20


# --- catalogue ----------------------------------------------------------------------------

# The figures the README cites, per device (memory of one device).
CITED = {
    "Ascend310": 8 * GiB,
    "Ascend310P3": 24 * GiB,
    "Ascend310B1": 4 * GiB,
    "Ascend910": 32 * GiB,
    "Ascend910B1": 64 * GiB,
    "Ascend910B2": 64 * GiB,
    "Ascend910B3": 64 * GiB,
    "Ascend910B4": 32 * GiB,
    "Ascend910_93": 64 * GiB,
}


def test_shipped_catalogue_has_the_cited_figures_and_reserve() -> None:
    catalog = load_catalog()
    assert {name: d.memory for name, d in catalog.devices.items()} == CITED
    assert all(d.reserve == 300 * MiB for d in catalog.devices.values())
    assert catalog.get("Ascend310P3").usable == 24 * GiB - 300 * MiB


def test_soc_versions_atc_writes_find_their_device() -> None:
    catalog = load_catalog()
    assert catalog.get("Ascend910_9392").name == "Ascend910_93"
    assert catalog.get("Ascend910A").name == "Ascend910"
    assert catalog.get("Ascend910B2C").name == "Ascend910B2"
    assert catalog.find("Ascend310B4") == catalog.devices["Ascend310B1"]
    assert catalog.find("Ascend999") is None and catalog.find(None) is None
    with pytest.raises(CatalogError, match="unknown device 'Ascend999'"):
        catalog.get("Ascend999")


def test_a_user_catalogue_overrides_fields_and_adds_devices(tmp_path: Path) -> None:
    user = tmp_path / "devices.toml"
    user.write_text(
        'reserve = "1GiB"\n'
        '[devices.Ascend310P3]\nreserve = "512MiB"\n'
        '[devices.Atlas300IDuo]\nmemory = "48 GB"\naliases = ["Duo"]\n'
    )
    catalog = load_catalog(user)
    assert catalog.devices["Ascend310P3"].memory == 24 * GiB  # kept from the shipped one
    assert catalog.devices["Ascend310P3"].reserve == 512 * MiB
    assert catalog.get("Duo").memory == 48 * 1000**3
    assert catalog.get("Duo").reserve == GiB  # the user's default reserve
    assert catalog.devices["Ascend910B1"].reserve == GiB


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[devices.X\n", "catalogue .*devices.toml"),
        ("colour = 1\n", "unknown key"),
        ('[devices.X]\nmemory = "8GiB"\nspeed = 1\n', "may only have"),
        ('[devices.X]\nreserve = "1GiB"\n', "has no memory"),
        ('[devices.X]\nmemory = "eight"\n', "X.memory: not a size"),
        ("[devices.X]\nmemory = -1\n", "X.memory: not a size"),
    ],
)
def test_a_bad_catalogue_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    user = tmp_path / "devices.toml"
    user.write_text(text)
    with pytest.raises(CatalogError, match=message):
        load_catalog(user)


# --- sizes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24GiB", 24 * GiB),
        ("64 GB", 64 * 1000**3),
        ("512MiB", 512 * MiB),
        ("1.5 GiB", 3 * GiB // 2),
        ("4096", 4096),
        (" 8gib ", 8 * GiB),
    ],
)
def test_sizes_as_people_type_them(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "-1GiB", "24 GiBs", "1e9", "twelve"])
def test_sizes_that_are_not_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_bytes(text)


# --- plan arithmetic ----------------------------------------------------------------------


def row(relpath: str, work: int, weight: int, **extra: Any) -> dict[str, Any]:
    base = {
        "repository": "/repo",
        "relpath": relpath,
        "status": "ok",
        "ret_name": "SUCCESS",
        "work_size": work,
        "weight_size": weight,
        "total_size": work + weight,
        "dynamic": False,
        "soc_version": "Ascend310",
    }
    return base | extra


def test_copies_are_the_floor_of_usable_over_total() -> None:
    assert copies_on(Need(4, 2), 10, share_work=False) == 1
    assert copies_on(Need(4, 2), 12, share_work=False) == 2
    assert copies_on(Need(4, 2), 5, share_work=False) == 0
    # copies sharing one work buffer: (usable - work) // weight
    assert copies_on(Need(4, 2), 10, share_work=True) == 3
    assert copies_on(Need(4, 2), 5, share_work=True) == 0
    assert copies_on(Need(0, 0), 5, share_work=False) is None


def test_device_need_adds_work_or_takes_the_largest_when_shared() -> None:
    needs = [Need(4, 2), Need(3, 2), Need(2, 1)]
    assert device_need(needs, share_work=False) == 14
    assert device_need(needs, share_work=True) == 5 + 4


def test_plan_rows_on_each_model_s_own_device() -> None:
    catalog = load_catalog()
    rows = [
        row("small.om", 100 * MiB, 50 * MiB),
        row("huge.om", 6 * GiB, 2 * GiB),  # 8 GiB > 8 GiB - 300 MiB
        row("p3.om", 1 * GiB, 1 * GiB, soc_version="Ascend310P3"),
        row("dyn.om", 0, 1 * GiB, dynamic=True),
        row("bad.om", 0, 0, status="failed", ret_name="ACL_ERROR_GE_PARAM_INVALID"),
        row("odd.om", 1, 1, soc_version="Ascend999"),
    ]
    planned = {p["relpath"]: p for p in plan_models(rows, Target(catalog))}
    usable_310 = 8 * GiB - 300 * MiB
    assert planned["small.om"] | {} == {
        "repository": "/repo",
        "relpath": "small.om",
        "status": "ok",
        "work_size": 100 * MiB,
        "weight_size": 50 * MiB,
        "total_size": 150 * MiB,
        "device": "Ascend310",
        "device_memory": usable_310,
        "fits": True,
        "copies": usable_310 // (150 * MiB),
        "note": "",
    }
    assert planned["huge.om"]["fits"] is False and planned["huge.om"]["copies"] == 0
    assert planned["p3.om"]["copies"] == (24 * GiB - 300 * MiB) // (2 * GiB)
    assert planned["dyn.om"]["fits"] is None and "dynamic" in planned["dyn.om"]["note"]
    assert planned["bad.om"]["note"] == "failed: ACL_ERROR_GE_PARAM_INVALID"
    assert planned["bad.om"]["fits"] is None and planned["bad.om"]["device"] == "Ascend310"
    assert planned["odd.om"]["device"] is None and "Ascend999" in planned["odd.om"]["note"]


def test_plan_with_a_given_device_reserve_and_dynamic_weights() -> None:
    catalog = load_catalog()
    rows = [row("dyn.om", 0, 3 * GiB, dynamic=True), row("m.om", 1 * GiB, 1 * GiB)]
    target = Target(catalog, Device("10GiB", 10 * GiB, 0), reserve=None, dynamic_weights=True)
    planned = {p["relpath"]: p for p in plan_models(rows, target)}
    assert planned["dyn.om"]["copies"] == 3 and planned["dyn.om"]["total_size"] == 3 * GiB
    assert planned["dyn.om"]["note"] == "dynamic: weights only"
    assert planned["m.om"]["copies"] == 5 and planned["m.om"]["device"] == "10GiB"
    reserved = Target(catalog, catalog.get("Ascend910B1"), reserve=4 * GiB)
    planned = {p["relpath"]: p for p in plan_models(rows, reserved)}
    assert planned["m.om"]["device_memory"] == 60 * GiB and planned["m.om"]["copies"] == 30
    assert planned["m.om"]["note"] == "built for Ascend310"
    shared = Target(catalog, Device("10GiB", 10 * GiB, 0), share_work=True)
    assert plan_models([rows[1]], shared)[0]["copies"] == 9  # (10 - 1) // 1


# --- packing ------------------------------------------------------------------------------


def wanted(name: str, work: int, weight: int, copies: int = 1) -> Wanted:
    return Wanted("/repo", name, copies, Need(work, weight))


def placement(packing: Any) -> list[list[str]]:
    return [[w.relpath for w, _ in b.placed] for b in packing.bins]


def test_first_fit_decreasing_places_largest_first_on_the_first_device_with_room() -> None:
    items = [wanted(n, 0, size) for n, size in [("c", 4), ("a", 6), ("e", 2), ("b", 5), ("d", 3)]]
    packing = pack(items, devices=2, usable=10, share_work=False)
    assert placement(packing) == [["a", "c"], ["b", "d", "e"]]
    assert packing.left_over == []
    data = packing.to_dict()
    assert [(d["used"], d["free"]) for d in data["devices"]] == [(10, 0), (10, 0)]


def test_what_does_not_fit_is_left_over_with_the_reason() -> None:
    items = [wanted("big", 0, 11), wanted("a", 0, 6), wanted("b", 0, 5, copies=2)]
    packing = pack(items, devices=1, usable=10, share_work=False)
    assert placement(packing) == [["a"]]
    assert {(w["relpath"], w["copies"], w["reason"]) for w in packing.left_over} == {
        ("big", 1, "larger than one device"),
        ("b", 2, "no room left on 1 device(s)"),
    }


def test_share_work_needs_the_sum_of_weights_plus_the_largest_work() -> None:
    items = [wanted("a", 4, 2), wanted("b", 3, 2), wanted("c", 2, 1)]
    alone = pack(items, devices=1, usable=10, share_work=False)
    assert placement(alone) == [["a", "c"]]  # 6 + 3; b (5) does not fit
    shared = pack(items, devices=1, usable=10, share_work=True)
    assert placement(shared) == [["a", "b", "c"]]  # weights 5 + largest work 4
    device = shared.to_dict()["devices"][0]
    assert (device["used"], device["weight_size"], device["work_size"]) == (9, 5, 4)
    assert [(m["relpath"], m["copies"]) for m in device["models"]] == [("a", 1), ("b", 1), ("c", 1)]


def test_copies_of_one_model_are_packed_and_counted() -> None:
    packing = pack([wanted("m", 1, 2, copies=5)], devices=2, usable=7, share_work=False)
    assert [[m["copies"] for m in d["models"]] for d in packing.to_dict()["devices"]] == [[2], [2]]
    assert [(w["copies"], w["reason"]) for w in packing.left_over] == [
        (1, "no room left on 2 device(s)")
    ]
    shared = pack([wanted("m", 1, 2, copies=5)], devices=2, usable=7, share_work=True)
    assert [[m["copies"] for m in d["models"]] for d in shared.to_dict()["devices"]] == [[3], [2]]


def test_models_file_and_named_models() -> None:
    assert parse_models_file("# fleet\nvision/a.om 3\n\n/abs/b c.om\nd.om  # one\n") == [
        ("vision/a.om", 3),
        ("/abs/b c.om", 1),
        ("d.om", 1),
    ]
    with pytest.raises(PlanError, match="line 1: copies must be at least 1"):
        parse_models_file("a.om 0")
    catalog = load_catalog()
    rows = [row("a.om", 1, 1), row("a.om", 2, 2, repository="/other"), row("b.om", 1, 1)]
    rows.append(row("f.om", 0, 0, status="failed", ret_name="X"))
    chosen, skipped = wanted_models(rows, [("/other/a.om", 2), ("b.om", 1)], Target(catalog))
    assert [(w.repository, w.relpath, w.copies) for w in chosen] == [
        ("/other", "a.om", 2),
        ("/repo", "b.om", 1),
    ]
    assert skipped == []
    everything, skipped = wanted_models(rows, None, Target(catalog))
    assert len(everything) == 3 and [w.relpath for w in skipped] == ["f.om"]
    with pytest.raises(PlanError, match="several repositories"):
        wanted_models(rows, [("a.om", 1)], Target(catalog))
    with pytest.raises(PlanError, match=r"no model 'z\.om'"):
        wanted_models(rows, [("z.om", 1)], Target(catalog))
    with pytest.raises(PlanError, match="more than once"):
        wanted_models(rows, [("b.om", 1), ("/repo/b.om", 1)], Target(catalog))
    asked, _ = wanted_models(rows, [("f.om", 1)], Target(catalog))
    left = pack(asked, devices=1, usable=10, share_work=False).left_over
    assert [(w["relpath"], w["reason"]) for w in left] == [("f.om", "failed: X")]


# --- `omscan plan` on both databases ------------------------------------------------------


@pytest.fixture
def fleet(tmp_path: Path, db_url: str) -> tuple[str, Path]:
    root = tmp_path / "repo"
    write_model(root / "det.om", 2 * GiB, 1 * GiB, soc_version="Ascend310P3")  # 3 GiB
    write_model(root / "cls.om", 1 * GiB, 1 * GiB, soc_version="Ascend310P3")  # 2 GiB
    write_model(root / "ocr.om", 512 * MiB, 512 * MiB, soc_version="Ascend310")  # 1 GiB
    (root / "broken.om").write_bytes(b"IMOD" + bytes(300))
    assert run("scan", str(root), "--db", db_url)[0] == 1
    return db_url, root


def test_plan_json_keys_and_figures(fleet: tuple[str, Path]) -> None:
    db, root = fleet
    code, out = run("plan", "--db", db, "--format", "json")
    assert code == 0
    planned = {p["relpath"]: p for p in json.loads(out)}
    assert set(planned["det.om"]) >= {
        "repository",
        "relpath",
        "status",
        "work_size",
        "weight_size",
        "total_size",
        "device",
        "device_memory",
        "fits",
        "copies",
    }
    usable = 24 * GiB - 300 * MiB
    assert planned["det.om"] | {"note": ""} == {
        "repository": str(root.resolve()),
        "relpath": "det.om",
        "status": "ok",
        "work_size": 2 * GiB,
        "weight_size": 1 * GiB,
        "total_size": 3 * GiB,
        "device": "Ascend310P3",
        "device_memory": usable,
        "fits": True,
        "copies": usable // (3 * GiB),
        "note": "",
    }
    assert planned["ocr.om"]["device"] == "Ascend310"
    assert planned["broken.om"]["fits"] is None and planned["broken.om"]["note"].startswith(
        "failed"
    )


def test_plan_exit_codes(fleet: tuple[str, Path], tmp_path: Path) -> None:
    db, _ = fleet
    assert run("plan", "--db", db, "--device-memory", "3GiB")[0] == 0
    code, out = run("plan", "--db", db, "--device-memory", "3GiB", "--reserve", "1MiB")
    assert code == 1 and "1 do not" in out
    code, out = run("plan", "--db", db, "--device-memory", "3GiB", "--repo", "nothing-here")
    assert code == 0 and "0 model(s)" in out
    assert run("plan", "--db", db, "--device", "Ascend999")[0] == 2
    assert run("plan", "--db", db, "--device", "Ascend310", "--device-memory", "1GiB")[0] == 2
    assert run("plan", "--db", db, "--device-memory", "lots")[0] == 2
    assert run("plan", "--db", db, "--reserve", "lots")[0] == 2
    assert run("plan", "--db", db, "--pack", "2")[0] == 2  # no device
    missing = tmp_path / "missing.toml"
    assert run("plan", "--db", db, "--catalog", str(missing))[0] == 2
    unreachable = "postgresql://nobody@127.0.0.1:9/none"
    assert run("plan", "--db", unreachable)[0] == 3


def test_plan_pack_places_and_gates(fleet: tuple[str, Path], tmp_path: Path) -> None:
    db, root = fleet
    code, out = run(
        "plan", "--db", db, "--pack", "1", "--device-memory", "6GiB", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["device"] == "6GiB" and data["device_memory"] == 6 * GiB
    assert [[m["relpath"] for m in d["models"]] for d in data["devices"]] == [
        ["det.om", "cls.om", "ocr.om"]
    ]
    assert data["left_over"] == []
    assert [s["relpath"] for s in data["not_planned"]] == ["broken.om"]

    models = tmp_path / "models.txt"
    models.write_text(f"det.om 2\n{root}/ocr.om\n")
    code, out = run(
        "plan", "--db", db, "--pack", "1", "--device-memory", "6GiB", "--models", str(models)
    )
    assert code == 1  # 3 + 3 + 1 > 6: one copy of ocr.om is left over
    assert "left over" in out and "ocr.om" in out
    code, out = run(
        "plan",
        "--db",
        db,
        "--pack",
        "1",
        "--device-memory",
        "6GiB",
        "--models",
        str(models),
        "--share-work",
        "--format",
        "json",
    )
    assert code == 0  # weights 1 + 1 + 0.5 and one work buffer of 2: 4.5 GiB
    assert json.loads(out)["devices"][0]["used"] == 2 * GiB + 2 * GiB + GiB // 2
    models.write_text("nothing.om\n")
    assert (
        run("plan", "--db", db, "--pack", "1", "--device", "Ascend310", "--models", str(models))[0]
        == 2
    )
