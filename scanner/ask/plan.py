"""Capacity planning over the latest results: what each model needs on a device, whether it
fits and how many copies do, and how a set of models packs onto N devices.

Pure functions over report rows (``scanner.ask.report``), so that every figure can be
checked by hand. Packing is first-fit decreasing: copies are placed largest first, each on
the first device with room for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .catalog import Catalog, Device

PLAN_COLUMNS = [
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
    "note",
]


class PlanError(ValueError):
    """A request the plan cannot answer (a model named twice, or not in the results)."""


@dataclass(frozen=True)
class Target:
    """The device to plan for and how: one given by hand, or each model's own SoC."""

    catalog: Catalog
    device: Device | None = None
    reserve: int | None = None  # overrides every device's own reserve
    share_work: bool = False  # models on a device share one work buffer
    dynamic_weights: bool = False  # plan dynamic models by their weights alone

    def device_for(self, soc: str | None) -> Device | None:
        device = self.device or self.catalog.find(soc)
        if device is None or self.reserve is None:
            return device
        return replace(device, reserve=self.reserve)


@dataclass(frozen=True)
class Need:
    """Device memory one copy of a model takes: work (activations) and weights."""

    work: int
    weight: int

    @property
    def total(self) -> int:
        return self.work + self.weight


def need_of(row: dict[str, Any], target: Target) -> tuple[Need | None, str]:
    """What the model of a report row needs, or why that is unknown."""
    if row["status"] != "ok":
        return None, f"{row['status']}: {row['ret_name']}" if row.get("ret_name") else row["status"]
    if row["dynamic"]:
        if not target.dynamic_weights:
            return None, "dynamic: work memory unknown (--dynamic-weights: plan weights only)"
        return Need(0, int(row["weight_size"])), "dynamic: weights only"
    return Need(int(row["work_size"]), int(row["weight_size"])), ""


def device_need(needs: Iterable[Need], share_work: bool) -> int:
    """Memory a device needs for these copies: each its own work buffer, or (models run
    one at a time) one work buffer as large as the largest, beside all the weights."""
    needs = list(needs)
    weights = sum(n.weight for n in needs)
    if share_work:
        return weights + max((n.work for n in needs), default=0)
    return weights + sum(n.work for n in needs)


def copies_on(need: Need, usable: int, share_work: bool) -> int | None:
    """How many copies fit in ``usable`` bytes (None: a copy costs nothing)."""
    if need.total > usable:
        return 0
    each = need.weight if share_work else need.total
    if each == 0:
        return None
    spare = usable - need.work if share_work else usable
    return spare // each


def plan_models(rows: Sequence[dict[str, Any]], target: Target) -> list[dict[str, Any]]:
    """One plan row per report row (keys: ``PLAN_COLUMNS``)."""
    planned = []
    for row in rows:
        need, note = need_of(row, target)
        device = target.device_for(row.get("soc_version"))
        fits: bool | None = None
        copies: int | None = None
        if need is not None and device is None:
            note = f"no device for soc_version {row.get('soc_version')!r} (see --catalog)"
        elif need is not None and device is not None:
            fits = need.total <= device.usable
            copies = copies_on(need, device.usable, target.share_work)
            if _built_for_another(row.get("soc_version"), target):
                note = "; ".join(filter(None, [note, f"built for {row['soc_version']}"]))
        planned.append(
            {
                "repository": row["repository"],
                "relpath": row["relpath"],
                "status": row["status"],
                "work_size": need.work if need else row["work_size"],
                "weight_size": need.weight if need else row["weight_size"],
                "total_size": need.total if need else row["total_size"],
                "device": device.name if device else None,
                "device_memory": device.usable if device else None,
                "fits": fits,
                "copies": copies,
                "note": note,
            }
        )
    return planned


def _built_for_another(soc: str | None, target: Target) -> bool:
    """A device was given, and the catalogue says the model was built for another one:
    its sizes are those of that build (ATC would have to compile it again)."""
    if target.device is None:
        return False
    own, given = target.catalog.find(soc), target.catalog.find(target.device.name)
    return own is not None and given is not None and own.name != given.name


# --- packing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """A model to place, with the copies it needs."""

    repository: str
    relpath: str
    copies: int
    need: Need | None  # None: cannot be planned (``reason`` says why)
    reason: str = ""


@dataclass
class Bin:
    """One device being filled."""

    index: int
    placed: list[tuple[Wanted, Need]] = field(default_factory=list)

    def used(self, share_work: bool, extra: Need | None = None) -> int:
        needs = [need for _, need in self.placed] + ([extra] if extra else [])
        return device_need(needs, share_work)


@dataclass(frozen=True)
class Packing:
    usable: int
    share_work: bool
    bins: list[Bin]
    left_over: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_memory": self.usable,
            "share_work": self.share_work,
            "devices": [self._device(b) for b in self.bins],
            "left_over": self.left_over,
        }

    def _device(self, device: Bin) -> dict[str, Any]:
        used = device.used(self.share_work)
        counts = Counter((w.repository, w.relpath) for w, _ in device.placed)
        needs = {(w.repository, w.relpath): n for w, n in device.placed}
        return {
            "device": device.index,
            "used": used,
            "free": self.usable - used,
            "weight_size": sum(n.weight for _, n in device.placed),
            "work_size": used - sum(n.weight for _, n in device.placed),
            "models": [
                {
                    "repository": key[0],
                    "relpath": key[1],
                    "copies": count,
                    "work_size": needs[key].work,
                    "weight_size": needs[key].weight,
                    "total_size": needs[key].total,
                }
                for key, count in counts.items()
            ],
        }


def pack(wanted: Sequence[Wanted], devices: int, usable: int, share_work: bool) -> Packing:
    """First-fit decreasing: every copy, largest total first (ties by path), goes on the
    first device where it still fits; copies that fit nowhere are left over."""
    bins = [Bin(index) for index in range(1, devices + 1)]
    copies = [(w, w.need) for w in wanted if w.need is not None for _ in range(w.copies)]
    copies.sort(key=lambda c: (-c[1].total, c[0].repository, c[0].relpath))
    left: dict[Wanted, int] = {}
    for model, need in copies:
        target = next((b for b in bins if b.used(share_work, need) <= usable), None)
        if target is None:
            left[model] = left.get(model, 0) + 1
        else:
            target.placed.append((model, need))
    left_over = [_left(w, w.copies, w.reason) for w in wanted if w.need is None]
    for model, count in left.items():
        alone = model.need is not None and device_need([model.need], share_work) <= usable
        reason = f"no room left on {devices} device(s)" if alone else "larger than one device"
        left_over.append(_left(model, count, reason))
    return Packing(usable, share_work, bins, left_over)


def _left(model: Wanted, copies: int, reason: str) -> dict[str, Any]:
    return {
        "repository": model.repository,
        "relpath": model.relpath,
        "copies": copies,
        "total_size": model.need.total if model.need else None,
        "reason": reason,
    }


def parse_models_file(text: str) -> list[tuple[str, int]]:
    """``PATH [COPIES]`` per line (``#`` starts a comment): the models to pack."""
    wanted = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        path, _, count = line.rpartition(" ")
        if not path or not count.strip().isdigit():
            path, count = line, "1"
        if int(count) < 1:
            raise PlanError(f"line {number}: copies must be at least 1")
        wanted.append((path.strip(), int(count)))
    return wanted


def wanted_models(
    rows: Sequence[dict[str, Any]], names: Sequence[tuple[str, int]] | None, target: Target
) -> tuple[list[Wanted], list[Wanted]]:
    """The models to pack and those that cannot be: by default one copy of every model
    that can be planned (the others are returned apart, not asked for); with ``names``
    (path inside a repository, or full path), exactly those — one that cannot be planned
    is then left over."""
    if names is None:
        everything = [_wanted(row, 1, target) for row in rows]
        return [w for w in everything if w.need], [w for w in everything if not w.need]
    chosen = []
    for name, copies in names:
        matches = [r for r in rows if name in (r["relpath"], f"{r['repository']}/{r['relpath']}")]
        if not matches:
            raise PlanError(f"no model {name!r} in the latest results")
        if len(matches) > 1:
            where = ", ".join(r["repository"] for r in matches)
            raise PlanError(f"{name!r} is in several repositories ({where}): give the full path")
        chosen.append(_wanted(matches[0], copies, target))
    keys = Counter((w.repository, w.relpath) for w in chosen)
    twice = [f"{k[0]}/{k[1]}" for k, n in keys.items() if n > 1]
    if twice:
        raise PlanError(f"named more than once: {', '.join(twice)}")
    return chosen, []


def _wanted(row: dict[str, Any], copies: int, target: Target) -> Wanted:
    need, note = need_of(row, target)
    return Wanted(row["repository"], row["relpath"], copies, need, note if need is None else "")
