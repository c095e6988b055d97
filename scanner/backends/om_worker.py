"""A reader process of ``--jobs N`` (``om_processes`` is the parent's side). It imports
the reader and nothing the parent alone needs (anyio, the store): a process starts at
the first chunk of a scan, and its imports are time the scan waits for."""

from __future__ import annotations

import signal
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized

from ..core import ModelFile
from ..core.source import ModelReader
from ..om.deadline import Deadline
from ..om.flat import flatten
from .answer import answer_entry


def serve(
    conn: Connection, current: Synchronized[int], reader: ModelReader, timeout: float | None
) -> None:
    """Chunks of records in, their (flat result, seconds) out in one message (one
    wake-up of the parent per chunk, not per model), until the parent closes the pipe.
    ``current`` says which model of the chunk it is answering, for the parent to know
    whom a death or a hang costs. Ctrl-C reaches the whole process group: the parent
    decides what stops, and kills us if it must."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            chunk: list[ModelFile] = conn.recv()
        except (EOFError, OSError):
            return
        answers = []
        for index, entry in enumerate(chunk):
            current.value = index
            result, seconds = answer_entry(entry, reader, Deadline(timeout))
            answers.append((flatten(result), seconds))
        conn.send(answers)
