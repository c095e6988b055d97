"""Pick and open the query backend the user asked for (`--backend auto|om|acl`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from ..core.source import ModelReader
from .base import Backend, BackendError
from .npu import acl_available, detect_devices
from .om import OmBackend


def default_jobs() -> int:
    """Reader processes by default: the cores this process may run on (its affinity, not
    the machine's count)."""
    return len(os.sched_getaffinity(0))


@asynccontextmanager
async def open_backend(
    reader: ModelReader,
    name: str,
    devices: Sequence[int] | None,
    timeout: float,
    verify: bool,
    in_flight: int = 1,
    jobs: int = 1,
    inline: bool = False,
) -> AsyncIterator[tuple[Backend, list[int]]]:
    """Yield the backend, reading models through ``reader``, and the devices it uses
    (none for ``om``); ``in_flight``: models the om backend reads at once (objects in
    buckets wait on the network, local files do not); ``jobs`` > 1 with one in flight runs
    our reader in that many processes (``reader`` must then be picklable); ``inline``
    with one job: our reader answers in the event loop's thread (see ``OmBackend``)."""
    if name == "om" or (name == "auto" and not acl_available()):
        if verify:
            raise BackendError("--verify compares the acl backend with our reader: it needs acl")
        if jobs == 1 or in_flight > 1:
            yield OmBackend(reader, timeout, in_flight, inline=inline), []
            return
        from .om_processes import OmProcessBackend  # multiprocessing: loaded when used

        async with OmProcessBackend(reader, timeout, jobs) as backend:
            yield backend, []
        return
    async with open_acl(reader, devices, timeout) as (backend, used):
        if verify:
            from .verify import VerifyingBackend

            backend = VerifyingBackend(backend, reader, timeout)
        yield backend, used


@asynccontextmanager
async def open_acl(
    reader: ModelReader, devices: Sequence[int] | None, timeout: float
) -> AsyncIterator[tuple[Backend, list[int]]]:
    if not acl_available():
        raise BackendError("the acl backend needs pyACL (import acl) and an Atlas NPU")
    used = list(devices) if devices is not None else detect_devices()
    if not used:
        raise BackendError("no NPU device found for the acl backend")
    from .acl import AclBackend  # its device processes' machinery: loaded when chosen

    async with AclBackend(reader, used, timeout) as backend:
        yield backend, used
