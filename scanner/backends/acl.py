"""The `acl` backend: pyACL on Atlas NPUs, one long-lived worker process per device.

anyio's process pool has no per-worker initializer, and a device must be bound once
per process, so each worker is our own spawned process (see acl_worker). Models reach
it through shared memory (see shm); a worker that dies or hangs past the timeout
costs that one model and is replaced.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

import anyio

from ..concurrency import first_error
from ..core import ModelFile, Status
from ..core.source import ModelReader, ReadFailed
from ..om import QueryResult, error_name, query_bytes
from .acl_worker import serve
from .base import Answer, BackendError, Loaded, query_each
from .om import reader_deadline
from .shm import ModelBuffer, load_model

STARTUP_SECONDS = 120.0
STOP_SECONDS = 10.0


class WorkerLost(Exception):
    def __init__(self, fault: Status, reason: str) -> None:
        super().__init__(reason)
        self.fault = fault


class DeviceWorker:
    """One worker process bound to one device, spoken to over a pipe."""

    def __init__(self, device: int) -> None:
        self.device = device
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None

    async def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=serve, args=(self.device, child), name=f"omscan-npu{self.device}", daemon=True
        )
        await anyio.to_thread.run_sync(process.start)
        child.close()
        self.process, self.conn = process, parent
        try:
            message = await self._receive(STARTUP_SECONDS)
        except WorkerLost as lost:
            self.kill()
            raise BackendError(f"device {self.device}: worker did not start: {lost}") from None
        if message[0] != "ready":
            self.kill()
            raise BackendError(f"device {self.device}: {message[0]} ({error_name(message[1])})")

    async def _receive(self, timeout: float) -> Any:
        assert self.conn is not None
        try:
            with anyio.fail_after(timeout):
                await anyio.wait_readable(self.conn.fileno())
            return self.conn.recv()
        except TimeoutError:
            raise WorkerLost(
                Status.TIMEOUT, f"device {self.device}: no answer in {timeout:g} s"
            ) from None
        except (EOFError, OSError):
            code = self.process.exitcode if self.process else None
            raise WorkerLost(
                Status.WORKER_CRASHED, f"device {self.device}: worker died (exit code {code})"
            ) from None

    async def query(self, buffer: ModelBuffer, timeout: float) -> tuple[int, int, int]:
        assert self.conn is not None
        try:
            self.conn.send((buffer.path, buffer.size))
        except OSError:
            raise WorkerLost(Status.WORKER_CRASHED, f"device {self.device}: worker gone") from None
        answer: tuple[int, int, int] = await self._receive(timeout)
        return answer

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        if self.process is not None:
            self.process.join(5)
        if self.conn is not None:
            self.conn.close()

    async def stop(self) -> None:
        """Ask the worker to reset its device and finalise; kill it if it will not."""
        if self.process is None:
            return
        try:
            assert self.conn is not None
            self.conn.send(None)
        except OSError:
            pass
        deadline = time.monotonic() + STOP_SECONDS
        while self.process.is_alive() and time.monotonic() < deadline:
            await anyio.sleep(0.02)
        self.kill()


class AclBackend:
    """The scan's view of the devices: a model goes to whichever worker is idle."""

    name = "acl"
    chunk = 1  # one model per hop: devices stay evenly loaded, the budget exact

    def __init__(self, reader: ModelReader, devices: Sequence[int], timeout: float) -> None:
        self.reader = reader
        self.devices = list(devices)
        self.timeout = timeout
        self.query_slots = len(self.devices)
        self._idle_tx, self._idle_rx = anyio.create_memory_object_stream[DeviceWorker](
            len(self.devices)
        )
        self._workers: list[DeviceWorker] = []

    async def __aenter__(self) -> AclBackend:
        try:
            with first_error():
                async with anyio.create_task_group() as group:
                    for device in self.devices:
                        group.start_soon(self._add_worker, device)
        except BaseException:
            await self._stop_all()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop_all()

    async def _add_worker(self, device: int) -> DeviceWorker:
        worker = DeviceWorker(device)
        self._workers.append(worker)
        await worker.start()
        self._idle_tx.send_nowait(worker)
        return worker

    async def _stop_all(self) -> None:
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as group:
                for worker in self._workers:
                    group.start_soon(worker.stop)
            self._workers.clear()

    def memory_cost(self, entry: ModelFile) -> int:
        return entry.size

    async def load(self, entry: ModelFile) -> Loaded | Answer:
        try:
            return await load_model(entry, self.reader)
        except ReadFailed as exc:
            result = QueryResult(ret=None, fault=exc.status, error=str(exc))
            return Answer(result, self.name, None, 0.0)

    async def query_chunk(self, items: Sequence[tuple[ModelFile, Loaded]]) -> list[Answer]:
        return await query_each(self, items)

    async def query(self, entry: ModelFile, loaded: Loaded) -> Answer:
        assert isinstance(loaded, ModelBuffer)
        start = time.perf_counter()
        worker = await self._idle_rx.receive()
        try:
            work, weight, ret = await worker.query(loaded, self.timeout)
        except WorkerLost as lost:
            result = QueryResult(
                ret=None, fault=lost.fault, error=str(lost), bytes_read=loaded.size
            )
            worker.kill()
            self._workers.remove(worker)
            worker = await self._add_worker(worker.device)
            return Answer(result, self.name, worker.device, time.perf_counter() - start)
        except BaseException:  # cancelled mid-query: its answer would confuse the next one
            worker.kill()
            raise
        self._idle_tx.send_nowait(worker)
        result = await anyio.to_thread.run_sync(
            partial(_with_inventory, loaded, ret, work, weight, self.timeout)
        )
        return Answer(result, self.name, worker.device, time.perf_counter() - start)


def _with_inventory(
    buffer: ModelBuffer, ret: int, work: int, weight: int, timeout: float
) -> QueryResult:
    """The device's numbers, with the metadata (inventory, why a model is dynamic) that
    only our reader gives, read from the same bytes (within ``timeout``, or none)."""
    ours = query_bytes(buffer.view, inventory=True, deadline=reader_deadline(timeout))
    answer = QueryResult(
        ret=ret,
        error=None if ret == 0 else f"aclmdlQuerySizeFromMem returned {error_name(ret)}",
        work_size=work if ret == 0 else 0,
        weight_size=weight if ret == 0 else 0,
        format=ours.format,
        bytes_read=buffer.size,
        inventory=ours.inventory,
    )
    if ret == 0 and ours.ok and work == 0:
        answer = replace(answer, dynamic_reason=ours.dynamic_reason)
    return answer
