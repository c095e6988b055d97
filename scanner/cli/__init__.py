"""The `omscan` command: a thin click shell over the library.

Each command lives in its own module, imported only when that command runs: a nightly
`omscan scan` does not pay for the modules of `report`, `sql` or `worker`.
Exit codes: 0 all good, 1 some models failed, 2 usage error, 3 the job could not run.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="omscan")
def cli() -> None:
    """Size Ascend .om models the way aclmdlQuerySizeFromMem does, for whole fleets."""


def main() -> None:
    cli()
