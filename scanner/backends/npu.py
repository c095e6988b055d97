"""Whether pyACL and an Atlas NPU are here: asked by every scan (``--backend auto``),
so it lives apart from the acl backend, which loads only when chosen."""

from __future__ import annotations


def acl_available() -> bool:
    """pyACL imports and shows at least one device."""
    try:
        import acl  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return bool(detect_devices())


def detect_devices() -> list[int]:
    """Device ids the runtime shows (it applies ASCEND_RT_VISIBLE_DEVICES itself)."""
    import acl

    count, ret = acl.rt.get_device_count()
    return list(range(count)) if ret == 0 else []
