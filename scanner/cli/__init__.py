"""The `omscan` command: a thin click shell over the library.

Each command group lives in its own module and is registered here.
Exit codes: 0 all good, 1 some models failed, 2 usage error, 3 the job could not run.
"""

from __future__ import annotations

import click

from .. import __version__
from .ask import diff, history, report_command, scans, sql
from .db import db
from .demo import demo
from .query import query
from .scan import scan
from .worker import status, worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="omscan")
def cli() -> None:
    """Size Ascend .om models the way aclmdlQuerySizeFromMem does, for whole fleets."""


cli.add_command(db)
cli.add_command(diff)
cli.add_command(history)
cli.add_command(report_command)
cli.add_command(scans)
cli.add_command(sql)
cli.add_command(demo)
cli.add_command(query)
cli.add_command(scan)
cli.add_command(status)
cli.add_command(worker)


def main() -> None:
    cli()
