"""`omscan demo DIR`: write a small demo model repository."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..demo import make_demo
from .exits import EXIT_NOT_RUN
from .text import printable


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def demo(directory: Path) -> None:
    """Write a demo model repository to DIRECTORY (models of every era, broken ones too).

    Exit 3 when it cannot be written there."""
    try:
        written = make_demo(directory)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = printable(str(exc.filename or directory))
        click.echo(f"omscan: cannot write the demo: {where}: {reason}", err=True)
        sys.exit(EXIT_NOT_RUN)
    click.echo(f"wrote {len(written)} files under {printable(str(directory))}")
