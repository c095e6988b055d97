"""Exit codes, and the one way a command ends on Ctrl-C. Only click and sys: this must
work while a Ctrl-C has left any other import half done."""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUN = 0, 1, 2, 3


def interrupted() -> NoReturn:
    """Ctrl-C outside a job's own signal handling: the job did not finish (and another
    Ctrl-C will not interrupt saying so)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    click.echo("omscan: interrupted", err=True)
    sys.exit(EXIT_NOT_RUN)
