"""What the hot commands import: `omscan --help` lists the commands without importing
any, and its list says what each command's own help says; a scan that reads no model
imports no reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from scanner.cli import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_summary_is_the_commands_own(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    summary = COMMANDS[name][2]
    for limit in (30, 45, 70, 200):
        listed = click.Command(name, help=summary).get_short_help_str(limit)
        assert listed == command.get_short_help_str(limit)


def test_help_imports_no_command_nor_the_store() -> None:
    code = (  # the command ends the process itself; its exit handlers still run
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(\n"
        "    m for m in sys.modules if m.startswith(('scanner.', 'sqlalchemy', 'rich')))))\n"
        "from scanner.__main__ import main; sys.argv = ['omscan', '--help']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "Commands:" in done.stdout
    loaded = done.stdout.strip().splitlines()[-1]
    assert loaded == "['scanner.__main__', 'scanner.cli', 'scanner.cli.exits']", loaded


def test_a_scan_that_reads_nothing_imports_no_reader(tmp_path: Path) -> None:
    """The format's modules and protobuf load with the first model read: an unchanged
    night or an empty directory never needs them."""
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["omscan", "scan", str(empty), "--db", f"sqlite:///{tmp_path / 'omscan.db'}"]
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(\n"
        "    m for m in sys.modules if m.startswith(('scanner.om.reader', 'google')))))\n"
        f"from scanner.__main__ import main; sys.argv = {argv!r}; main()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
