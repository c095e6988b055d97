"""Running omscan commands in-process and making small models, for the command tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from scanner.cli import cli
from scanner.om.writer import ModelParams, spec_for, write_om


def run(*args: str) -> tuple[int, str]:
    """Exit code, and stdout followed by stderr (click keeps them apart). An exception
    other than an exit is a bug, and is raised rather than turned into exit code 1."""
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def write_model(path: Path, work: int, weight: int, **params: Any) -> None:
    """A valid .om answering ``work``/``weight`` (``params``: more ModelParams)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_om(path, spec_for(ModelParams(memory_size=work, weight_size=weight, **params)))
