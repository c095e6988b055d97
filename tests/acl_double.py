"""Put the `acl` test double where this process and its children import it from.

This process gets a fresh module object, removed again when the test ends (the
double keeps per-process state); spawned workers find it on the sys.path
they inherit (and other child processes through PYTHONPATH).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

FAKE_ACL = Path(__file__).resolve().parent / "fake_acl"


def install(monkeypatch: pytest.MonkeyPatch, devices: int = 1) -> None:
    spec = importlib.util.spec_from_file_location("acl", FAKE_ACL / "acl.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "acl", module)
    monkeypatch.syspath_prepend(str(FAKE_ACL))  # spawn hands this sys.path to workers
    existing = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_ACL), existing])))
    monkeypatch.setenv("FAKE_ACL_DEVICE_COUNT", str(devices))
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)
