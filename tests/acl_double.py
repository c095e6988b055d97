"""Put the `acl` test double on the import path of this process and its children."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FAKE_ACL = Path(__file__).resolve().parent / "fake_acl"


def install(monkeypatch: pytest.MonkeyPatch, devices: int = 1) -> None:
    monkeypatch.syspath_prepend(str(FAKE_ACL))
    existing = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_ACL), existing])))
    monkeypatch.setenv("FAKE_ACL_DEVICE_COUNT", str(devices))
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)
