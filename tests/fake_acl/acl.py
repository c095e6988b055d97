"""A test double of pyACL's ``acl`` module, put on the path by the tests only.

It keeps the documented contract and nothing more: per-process state (init once,
one bound device), int return codes and ``(value, ret)`` tuples, pointers as ints.
``acl.mdl.query_size_from_mem`` reads the model at the pointer, as the real one
does, and answers with omscan's reader (there is no NPU here to ask).
Devices: FAKE_ACL_DEVICE_COUNT (default 1), narrowed by ASCEND_RT_VISIBLE_DEVICES.
"""

from __future__ import annotations

import ctypes
import os

from scanner.om import query_bytes

ACL_SUCCESS = 0
ACL_ERROR_INVALID_PARAM = 100000
ACL_ERROR_REPEAT_INITIALIZE = 100002
ACL_ERROR_REPEAT_FINALIZE = 100037
ACL_ERROR_RT_INVALID_DEVICEID = 107001
ACL_ERROR_GE_EXEC_NOT_INIT = 145001

_state: dict[str, object] = {"initialized": False, "device": None}


def _device_count() -> int:
    physical = int(os.environ.get("FAKE_ACL_DEVICE_COUNT", "1"))
    visible = os.environ.get("ASCEND_RT_VISIBLE_DEVICES")
    if visible is None:
        return physical
    return len([d for d in visible.split(",") if d.strip().isdigit() and int(d) < physical])


def init(config_path: str = "") -> int:
    if _state["initialized"]:
        return ACL_ERROR_REPEAT_INITIALIZE
    _state["initialized"] = True
    return ACL_SUCCESS


def finalize() -> int:
    if not _state["initialized"]:
        return ACL_ERROR_REPEAT_FINALIZE
    _state.update(initialized=False, device=None)
    return ACL_SUCCESS


class rt:
    @staticmethod
    def get_device_count() -> tuple[int, int]:
        return _device_count(), ACL_SUCCESS

    @staticmethod
    def set_device(device_id: int) -> int:
        if not 0 <= device_id < _device_count():
            return ACL_ERROR_RT_INVALID_DEVICEID
        _state["device"] = device_id
        return ACL_SUCCESS

    @staticmethod
    def reset_device(device_id: int) -> int:
        if _state["device"] != device_id:
            return ACL_ERROR_RT_INVALID_DEVICEID
        _state["device"] = None
        return ACL_SUCCESS


class util:
    @staticmethod
    def bytes_to_ptr(data: bytes) -> int:
        """Address of a bytes object's data, no copy (keep ``data`` alive)."""
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0


class mdl:
    @staticmethod
    def query_size_from_mem(model: int, model_size: int) -> tuple[int, int, int]:
        if not model or model_size <= 0:
            return 0, 0, ACL_ERROR_INVALID_PARAM
        if not _state["initialized"]:
            return 0, 0, ACL_ERROR_GE_EXEC_NOT_INIT
        memory = (ctypes.c_char * model_size).from_address(model)
        result = query_bytes(memoryview(memory).cast("B"))
        assert result.ret is not None, result.error  # memory is never "unreadable"
        return result.work_size, result.weight_size, result.ret
