"""The om backend on every core: chunks of models answered in worker processes.

Our reader is pure Python, so more threads only contend for the GIL; ``--jobs N`` gives
it N processes instead. Each process is started once with the reader and the time limit
(its initializer), then answers chunks of records, the chunk's answers in one message,
and says in shared memory which model it is on. The parent waits in a thread that also
watches the scan's cancellation and each model's time: a process that dies costs only the
model it was answering (``worker_crashed``), one that stops answering past ``--timeout``
plus a grace is killed (its model ``timeout``); either way a fresh process answers the
rest of the chunk, so results are those of one process. A process's side is
``om_worker``: it answers with the result already flat, the row the store writes.

The processes are spawned (never forked from a threaded parent): like any use of
multiprocessing, a script that scans with ``jobs`` > 1 keeps its work under
``if __name__ == "__main__"``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from types import TracebackType

import anyio
import anyio.from_thread

from ..core import ModelFile, Status
from ..core.source import ModelReader
from ..om.flat import FlatResult
from ..om.result import QueryResult
from . import om
from .base import Answer, BackendError
from .om_worker import serve

POLL = 0.05  # seconds between checks of cancellation and the time limit while waiting
GRACE = 5.0  # past --timeout, seconds a process may take to notice it before it is killed


class _Process:
    """One worker process, our end of its pipe and the model it is answering."""

    def __init__(self, reader: ModelReader, timeout: float | None) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self.conn, theirs = context.Pipe()
        # -1 until it starts on its first model: dying before that is not a model's fault.
        self.current: Synchronized[int] = context.Value("i", -1, lock=False)
        self.process: BaseProcess = context.Process(
            target=serve,
            args=(theirs, self.current, reader, timeout),
            daemon=True,
            name="omscan-reader",
        )
        self.process.start()
        theirs.close()

    def stop(self) -> None:
        """End the process at once: it holds nothing that needs a clean exit."""
        self.conn.close()
        self.process.kill()
        self.process.join()


class OmProcessBackend(om.OmBackend):
    """The om backend over ``jobs`` worker processes: one query slot per process; only
    where a chunk is answered differs."""

    def __init__(
        self, reader: ModelReader, timeout: float | None, jobs: int, grace: float = GRACE
    ) -> None:
        super().__init__(reader, timeout)
        self.query_slots = jobs
        self.grace = grace
        self._idle: list[_Process] = []

    async def __aenter__(self) -> OmProcessBackend:
        # Processes start with the first chunks: a scan with nothing to read starts none.
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        idle, self._idle = self._idle, []
        for process in idle:
            process.stop()

    def _answer_all(self, entries: list[ModelFile]) -> list[Answer]:
        """In a thread: the chunk through one process; when it dies or hangs, its model
        is recorded so and a fresh process answers the others (answering again those it
        had done: the answers are the same)."""
        process = self._idle.pop() if self._idle else _Process(self.reader, self.timeout)
        answers: list[Answer | None] = [None] * len(entries)
        todo = list(range(len(entries)))
        try:
            while todo:
                with contextlib.suppress(BrokenPipeError):  # it died: _collect says how
                    process.conn.send([entries[i] for i in todo])
                got = self._collect(process)
                if isinstance(got, list):
                    for index, (result, seconds) in zip(todo, got, strict=True):
                        answers[index] = Answer(result, self.name, None, seconds)
                    break
                answers[todo.pop(process.current.value)] = Answer(got, self.name, None, 0.0)
                process.stop()
                process = _Process(self.reader, self.timeout)
        except BaseException:
            process.stop()  # cancelled mid-chunk: what it is doing is nobody's business now
            raise
        self._idle.append(process)
        return [answer for answer in answers if answer is not None]

    def _collect(self, process: _Process) -> list[tuple[FlatResult, float]] | QueryResult:
        """The chunk's answers, or the result of the model the process was answering
        when it died or hung (``process.current``)."""
        limit = None if self.timeout is None else self.timeout + self.grace
        model, started = -1, time.monotonic()
        while not process.conn.poll(POLL):
            anyio.from_thread.check_cancelled()
            if not process.process.is_alive():
                break
            if process.current.value != model:  # the next model: its time starts
                model, started = process.current.value, time.monotonic()
            elif limit is not None and time.monotonic() - started > limit:
                return QueryResult(
                    ret=None,
                    fault=Status.TIMEOUT,
                    error=f"no answer within {self.timeout:g} s (reader process killed)",
                )
        try:
            answers: list[tuple[FlatResult, float]] = process.conn.recv()
        except (EOFError, OSError):
            process.process.join(1.0)  # its pipe closes as it dies: the code comes soon
            if process.current.value < 0:
                raise BackendError(
                    f"a reader process could not start (exit code {process.process.exitcode});"
                    " --jobs 1 reads in this process"
                ) from None
            return QueryResult(
                ret=None,
                fault=Status.WORKER_CRASHED,
                error=f"reader process died (exit code {process.process.exitcode})",
            )
        return answers
