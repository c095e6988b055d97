"""`omscan demo DIR`: write a small demo model repository."""

from __future__ import annotations

from pathlib import Path

import click

from ..demo import make_demo


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def demo(directory: Path) -> None:
    """Write a demo model repository to DIRECTORY (models of every era, broken ones too)."""
    written = make_demo(directory)
    click.echo(f"wrote {len(written)} files under {directory}")
