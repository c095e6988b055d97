"""The device catalogue: how much memory one NPU offers models, by the SoC name ATC writes
into each model. Shipped as data (``devices.toml``) so that a user file can override or
extend it in the same layout, without touching code."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..units import parse_bytes

BUILTIN = "devices.toml"
DEVICE_KEYS = {"memory", "reserve", "product", "aliases"}


class CatalogError(ValueError):
    """A catalogue file that cannot be used, or a device it does not know."""


@dataclass(frozen=True)
class Device:
    name: str
    memory: int  # bytes on one device
    reserve: int  # bytes the runtime takes before any model
    product: str = ""

    @property
    def usable(self) -> int:
        return max(self.memory - self.reserve, 0)


@dataclass(frozen=True)
class Catalog:
    devices: Mapping[str, Device]
    aliases: Mapping[str, str]  # other soc_version strings -> catalogue name

    def find(self, soc: str | None) -> Device | None:
        """The device a model built for ``soc`` runs on, if the catalogue knows it."""
        if soc is None:
            return None
        return self.devices.get(self.aliases.get(soc, soc))

    def get(self, name: str) -> Device:
        device = self.find(name)
        if device is None:
            known = ", ".join(sorted(self.devices))
            raise CatalogError(f"unknown device {name!r} (known: {known}; add it with --catalog)")
        return device


def load_catalog(user_file: Path | None = None) -> Catalog:
    """The shipped catalogue, with ``user_file``'s entries merged over it field by field
    (a user entry may change only ``reserve``, or add a device)."""
    data = _parse(resources.files(__package__).joinpath(BUILTIN).read_text(), BUILTIN)
    if user_file is not None:
        try:
            text = user_file.read_text()
        except OSError as exc:
            raise CatalogError(f"catalogue {user_file}: {exc.strerror or exc}") from None
        user = _parse(text, str(user_file))
        data["reserve"] = user.get("reserve", data.get("reserve", "0"))
        for name, fields in user.get("devices", {}).items():
            data["devices"][name] = {**data["devices"].get(name, {}), **fields}
    return _build(data)


def _parse(text: str, origin: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalogue {origin}: {exc}") from None
    unknown = set(data) - {"reserve", "devices"}
    if unknown:
        raise CatalogError(f"catalogue {origin}: unknown key(s) {', '.join(sorted(unknown))}")
    for name, fields in data.get("devices", {}).items():
        if not isinstance(fields, dict) or set(fields) - DEVICE_KEYS:
            allowed = ", ".join(sorted(DEVICE_KEYS))
            raise CatalogError(f"catalogue {origin}: device {name!r} may only have {allowed}")
    return data


def _build(data: dict[str, Any]) -> Catalog:
    default_reserve = _size(data.get("reserve", "0"), "reserve")
    devices: dict[str, Device] = {}
    aliases: dict[str, str] = {}
    for name, fields in data.get("devices", {}).items():
        if "memory" not in fields:
            raise CatalogError(f"catalogue: device {name!r} has no memory")
        devices[name] = Device(
            name=name,
            memory=_size(fields["memory"], f"{name}.memory"),
            reserve=_size(fields.get("reserve", default_reserve), f"{name}.reserve"),
            product=str(fields.get("product", "")),
        )
        aliases.update({str(alias): name for alias in fields.get("aliases", [])})
    return Catalog(devices, aliases)


def _size(value: object, what: str) -> int:
    """A size as a catalogue gives it: ``"24GiB"`` or a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            return parse_bytes(value)
        except ValueError as exc:
            raise CatalogError(f"catalogue: {what}: {exc}") from None
    raise CatalogError(f"catalogue: {what}: not a size: {value!r}")
