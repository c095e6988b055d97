"""`omscan query FILE...`: the API's answer and the inventory, per file."""

from __future__ import annotations

import click


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per file.")
def query(files: tuple[str, ...], as_json: bool) -> None:
    """Print return code, workSize, weightSize and inventory for each FILE."""
    raise click.ClickException("not yet")
