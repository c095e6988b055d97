"""The code a device worker process runs: it owns one NPU through pyACL.

Started with the spawn method, it initialises ACL and binds its device once, then
answers (path, size) requests for models waiting in shared memory until told to stop;
on the way out it resets the device and finalises ACL.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import signal
from multiprocessing.connection import Connection
from typing import Any


def serve(device: int, conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    import acl  # type: ignore[import-not-found]

    ret = acl.init()
    if ret != 0:
        conn.send(("acl.init failed", ret))
        return
    ret = acl.rt.set_device(device)
    if ret != 0:
        conn.send(("acl.rt.set_device failed", ret))
        acl.finalize()
        return
    conn.send(("ready", os.getpid()))
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:
                break
            if request is None:
                break
            conn.send(query(acl, *request))
    finally:
        acl.rt.reset_device(device)
        acl.finalize()


def query(acl: Any, path: str, size: int) -> tuple[int, int, int]:
    """``aclmdlQuerySizeFromMem`` on the mapped model: the pointer is the mapping's
    own address, so the model is never copied into this process."""
    fd = os.open(path, os.O_RDONLY)
    try:
        # ACCESS_COPY: a private mapping, writable as ctypes requires, copied on write only.
        mapping = mmap.mmap(fd, max(size, 1), access=mmap.ACCESS_COPY)
    finally:
        os.close(fd)
    try:
        anchor = ctypes.c_char.from_buffer(mapping)
        try:
            work, weight, ret = acl.mdl.query_size_from_mem(ctypes.addressof(anchor), size)
        finally:
            del anchor
    finally:
        mapping.close()
    return int(work), int(weight), int(ret)
