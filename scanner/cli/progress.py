"""A live progress line on a terminal; silence when output is not a terminal.

Imported only when stderr is a terminal: rich costs a nightly (cron) scan nothing."""

from __future__ import annotations

import time

import anyio
from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..scan.pipeline import Progress
from ..units import human_bytes


def describe(progress: Progress) -> Text:
    elapsed = max(time.monotonic() - progress.started, 1e-6)
    rate = progress.written / elapsed
    line = (
        f"{progress.written:,}/{progress.seen:,}{'' if progress.walk_done else '+'} files"
        f" · {progress.carried:,} unchanged · {progress.queried:,} queried"
        f" · {progress.failed:,} failed"
        f" · {human_bytes(progress.bytes_read)} read · {rate:,.0f} files/s"
    )
    if progress.walk_done and rate > 0:
        line += f" · ETA {(progress.seen - progress.written) / rate:,.0f} s"
    return Text(line)


async def show_progress(progress: Progress) -> None:
    """Redraw the line on stderr four times a second until cancelled; the line then
    disappears."""
    with Live(describe(progress), console=Console(stderr=True), transient=True) as live:
        while True:
            live.update(describe(progress))
            await anyio.sleep(0.25)
