"""The `omscan` command: a thin click shell over the library.

Each command lives in its own module, imported only when that command runs: a nightly
`omscan scan` does not pay for the modules of `report`, `sql` or `worker`, and
`omscan --help` for none.
Exit codes: 0 all good, 1 some models failed, 2 usage error, 3 the job could not run
(interrupted included). Every error is one line on stderr.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
from typing import Any

import click

from .. import __version__
from .exits import interrupted

# command name -> (module under scanner.cli, attribute, the first sentence of its help:
# what `omscan --help` lists without importing every command; a test keeps them equal)
COMMANDS = {
    "db": ("db", "db", "Manage the results database schema."),
    "demo": (
        "demo",
        "demo",
        "Write a demo model repository to DIRECTORY (models of every era, broken ones too).",
    ),
    "diff": (
        "ask",
        "diff",
        "Models added, removed and changed between SCAN_A and SCAN_B (default: the last two "
        "completed scans).",
    ),
    "history": (
        "ask",
        "history",
        "One model over time: PATH is the file, or its path inside its repository.",
    ),
    "plan": (
        "plan",
        "plan",
        "For every model of the latest results: what it needs, whether it fits its device "
        "(the SoC it was built for, or --device/--device-memory) and how many copies fit on one.",
    ),
    "query": (
        "query",
        "query",
        "Answer as aclmdlQuerySizeFromMem would for each FILE, with the model's inventory.",
    ),
    "report": ("ask", "report_command", "The latest result of every present model."),
    "scan": ("scan", "scan", "Walk ROOT... for models, size each one, and store the results."),
    "scans": ("ask", "scans", "List the scans in the store."),
    "sql": (
        "ask",
        "sql",
        "Run one read-only SQL STATEMENT over the store (see the README for the schema).",
    ),
    "status": (
        "worker",
        "status",
        "Progress of a distributed scan: totals, then per worker (every live one, and those "
        "that worked on it) what it holds (claimed), has done and failed, answers it had "
        "dropped as late, and its rate in files/s while it worked.",
    ),
    "worker": (
        "worker",
        "worker",
        "Take files of distributed scans from the PostgreSQL queue, query them on this "
        "host's devices, and store the results.",
    ),
}


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands from their first sentences: `omscan --help` imports none."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_, _, summary) in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """A Ctrl-C while click reads the command line ends it as interrupted too (click
        would say "Aborted!" and exit 1)."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            interrupted()

    def invoke(self, ctx: click.Context) -> Any:
        """The command, with its usage errors on one line and a Ctrl-C that came before
        the command's own handling (while it imports or starts) ending it as interrupted:
        one line and exit 3, never click's "Aborted!" (exit 1) or a traceback. In the
        ``omscan`` process, once the command has ended its outcome stands: a later Ctrl-C
        (while click closes the command's context and exits) is ignored."""
        try:
            try:
                result = super().invoke(ctx)
            except SystemExit:
                _outcome_decided()
                raise
            _outcome_decided()
            return result
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx else ""
            click.echo(f"omscan: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            interrupted()
        except RuntimeError as exc:
            # Python 3.11 wraps a Ctrl-C that lands in a class's ``__set_name__`` (while
            # a command's modules import) in a RuntimeError.
            if isinstance(exc.__cause__, KeyboardInterrupt):
                interrupted()
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="omscan")
def cli() -> None:
    """Size Ascend .om models the way aclmdlQuerySizeFromMem does, for whole fleets."""


_IN_OWN_PROCESS = False  # set by main(): commands run in-process (tests) keep Ctrl-C


def _outcome_decided() -> None:
    if _IN_OWN_PROCESS:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def main() -> None:
    """The ``omscan`` process's command line (``scanner.__main__``)."""
    global _IN_OWN_PROCESS
    _IN_OWN_PROCESS = True
    # SQLAlchemy logs what it handles itself (a connection close cut short by Ctrl-C)
    # through Python's last-resort handler, as a traceback on stderr; its real errors
    # reach us as exceptions, and every error is one line.
    logging.getLogger("sqlalchemy").addHandler(logging.NullHandler())
    cli()
