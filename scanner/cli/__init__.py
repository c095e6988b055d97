"""The `omscan` command: a thin click shell over the library.

Each command lives in its own module, imported only when that command runs: a nightly
`omscan scan` does not pay for the modules of `report`, `sql` or `worker`.
Exit codes: 0 all good, 1 some models failed, 2 usage error, 3 the job could not run
(interrupted included). Every error is one line on stderr.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from .. import __version__
from .exits import interrupted

# command name -> (module under scanner.cli, attribute)
COMMANDS = {
    "db": ("db", "db"),
    "demo": ("demo", "demo"),
    "diff": ("ask", "diff"),
    "history": ("ask", "history"),
    "plan": ("plan", "plan"),
    "query": ("query", "query"),
    "report": ("ask", "report_command"),
    "scan": ("scan", "scan"),
    "scans": ("ask", "scans"),
    "sql": ("ask", "sql"),
    "status": ("worker", "status"),
    "worker": ("worker", "worker"),
}


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """The command, with its usage errors on one line and a Ctrl-C that came before
        the command's own handling (while it imports or starts) ending it as interrupted:
        one line and exit 3, never click's "Aborted!" (exit 1) or a traceback."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx else ""
            click.echo(f"omscan: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            interrupted()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="omscan")
def cli() -> None:
    """Size Ascend .om models the way aclmdlQuerySizeFromMem does, for whole fleets."""


def main() -> None:
    # SQLAlchemy logs what it handles itself (a connection close cut short by Ctrl-C)
    # through Python's last-resort handler, as a traceback on stderr; its real errors
    # reach us as exceptions, and every error is one line.
    logging.getLogger("sqlalchemy").addHandler(logging.NullHandler())
    cli()
