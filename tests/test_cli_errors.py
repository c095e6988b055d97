"""A careless command line gets one line and the right exit code, never a traceback:
bad --db values, out-of-range sizes and durations, unwritable places, and Ctrl-C at any
moment (exit 3: the job did not finish)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from scanner.cli import cli
from scanner.demo import make_demo
from scanner.units import MAX_BYTES, parse_bytes


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_line(stderr: str) -> bool:
    return stderr.startswith("omscan: ") and stderr.count("\n") == 1 and "Traceback" not in stderr


@pytest.mark.parametrize(
    "url",
    [
        "",
        " ",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://u:pw@127.0.0.1:99999/x",
        "postgresql://u:pw@127.0.0.1:0/x",
        "postgresql://u@127.0.0.1/x?sslpassword=pw",
        "postgresql://u@127.0.0.1/x?command_timeout=-1",
        "postgresql://u@127.0.0.1/x?sslmode=bogus",
        "postgresql://u@127.0.0.1/x?target_session_attrs=bogus",
        "sqlite:///omscan.db?timeout=nan",
        "sqlite:///omscan.db?journal=wal",
        "mysql://u@h/x",
        "not a url",
    ],
)
def test_bad_database_urls_are_usage_errors_that_leave_nothing_behind(
    url: str, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    make_demo(root)
    for args in (["scan", str(root)], ["report"], ["sql", "SELECT 1"], ["db", "upgrade"]):
        result = subprocess.run(
            [sys.executable, "-m", "scanner", *args, "--db", url],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert result.returncode == 2, (url, args, result.stderr)
        assert one_line(result.stderr) and "--db" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # no :memory:.scan-lock


def test_sizes_beyond_what_the_database_holds_are_refused(db_url: str) -> None:
    assert run("db", "upgrade", "--db", db_url)[0] == 0
    code, _, err = run("report", "--db", db_url, "--min-total", str(MAX_BYTES + 1))
    assert code == 2 and one_line(err)
    assert run("report", "--db", db_url, "--min-total", "8EiB")[0] == 2
    code, out, _ = run("report", "--db", db_url, "--min-total", str(MAX_BYTES), "--format", "csv")
    assert code == 0 and out.startswith("repository,")
    assert parse_bytes("9007199254740993") == 9007199254740993  # exact, no float rounding
    assert parse_bytes("1.5KiB") == 1536


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "-inf", "never"])
def test_durations_and_numbers_are_checked_at_the_option(value: str, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'omscan.db'}"
    for args in (
        ["scan", str(tmp_path), "--timeout", value],
        ["worker", "--timeout", value, "--exit-when-idle"],
        ["sql", "SELECT 1", "--timeout", value],
    ):
        code, _, err = run(*args, "--db", db)
        assert code == 2 and one_line(err) and "--timeout" in err, (args, err)
    if value != "0" and value != "-5":
        code, _, err = run("diff", "--db", db, "--fail-on-growth", value)
        assert code == 2 and one_line(err), err
    assert run("scan", str(tmp_path), "--db", db, "--max-inflight-bytes", "0")[0] == 2
    assert not (tmp_path / "omscan.db").exists()  # refused before anything ran


def test_demo_where_it_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    for place in ("/proc/omscan-demo", str(tmp_path / "a-file" / "demo")):
        code, out, err = run("demo", place)
        assert code == 3 and out == "" and one_line(err), err
        assert "cannot write the demo" in err


# --- Ctrl-C ---------------------------------------------------------------------------

# Started by hand so that the signal goes to omscan's code, not to Python starting up:
# SIGINT is held back until main() takes it.
STARTED = (
    "import signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT});"
    " from scanner.__main__ import main; sys.argv = ['omscan', *sys.argv[1:]];"
    " sys.stderr.write('started\\n'); sys.stderr.flush(); main()"
)


def interrupt(args: list[str], after: float, cwd: Path) -> tuple[int, str, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", STARTED, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    assert process.stderr is not None and process.stderr.readline() == "started\n"
    time.sleep(after)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def test_ctrl_c_at_any_moment_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """Whenever it comes — while omscan imports, opens the store, migrates, scans or
    writes — a Ctrl-C ends the command with one line and exit 3, or, once the outcome
    is settled, changes nothing: never click's "Aborted!" (exit 1) or a traceback."""
    make_demo(tmp_path / "repo")
    db = f"sqlite:///{tmp_path / 'omscan.db'}"
    outcomes = set()
    for step in range(14):
        code, out, err = interrupt(["scan", "repo", "--db", db], step * 0.05, tmp_path)
        assert "Traceback" not in err and "Aborted" not in err, err
        assert err.count("\n") <= 1, err
        if code == 3 and err == "omscan: interrupted\n":
            outcomes.add("interrupted")
        elif code == 3:  # the scan's own handling: it stops and records what it did
            assert err == "omscan: SIGINT: finishing what is done\n" and " interrupted " in out
            outcomes.add("scan interrupted")
        else:  # too late to matter: the scan was done
            assert code == 1 and "completed" in out, (code, out, err)
            outcomes.add("done")
        code, out, err = interrupt(["report", "--db", db], step * 0.02, tmp_path)
        assert (code, err) == (3, "omscan: interrupted\n") or (code, err) == (0, ""), err
    assert "interrupted" in outcomes  # the early moments were reached


def test_ctrl_c_stops_a_long_sql_statement(db_url: str, tmp_path: Path) -> None:
    assert run("db", "upgrade", "--db", db_url)[0] == 0
    statement = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n"
        if db_url.startswith("sqlite")
        else "SELECT pg_sleep(60) AS omscan_ctrl_c"
    )
    args = ["sql", statement, "--db", db_url, "--timeout", "3600"]
    code, out, err = interrupt(args, 1.0, tmp_path)
    assert (code, out, err) == (3, "", "omscan: interrupted\n")
    if not db_url.startswith("sqlite"):  # the server stopped it too (it would sleep on)
        with psycopg.connect(db_url, autocommit=True) as conn:
            for _ in range(50):
                running = conn.execute(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE '%omscan_ctrl_c%'"
                    " AND pid <> pg_backend_pid()"
                ).fetchone()
                if running == (0,):
                    break
                time.sleep(0.2)
        assert running == (0,)


def test_a_ctrl_c_lost_in_a_finaliser_is_delivered_again() -> None:
    """Python prints a KeyboardInterrupt raised in a finaliser as "Exception ignored" and
    goes on; omscan's hook delivers it again, where it can end the command."""
    program = (
        "import sys, time\n"
        "from scanner.__main__ import _deliver_again\n"
        "sys.unraisablehook = _deliver_again\n"
        "class Finaliser:\n"
        "    def __del__(self):\n"
        "        raise KeyboardInterrupt\n"
        "try:\n"
        "    Finaliser()\n"
        "    for _ in range(500):\n"
        "        time.sleep(0.01)\n"
        "    print('lost')\n"
        "except KeyboardInterrupt:\n"
        "    print('delivered')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("delivered\n", "")


def test_ctrl_c_wrapped_by_a_class_being_made_is_still_an_interruption(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.11 turns a Ctrl-C raised in a ``__set_name__`` (a dataclass field, say,
    while a command's modules import) into a RuntimeError caused by it."""

    def import_interrupted(name: str) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from exc

    monkeypatch.setattr("scanner.cli.importlib.import_module", import_interrupted)
    result = invoke_keeping_ctrl_c(["scans"])
    assert result.exit_code == 3, result.output
    assert result.output == "omscan: interrupted\n"


def invoke_keeping_ctrl_c(args: list[str]) -> Result:
    """``omscan ARGS`` in this process, whose Ctrl-C works again afterwards (``interrupted``
    ignores further ones)."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        return CliRunner().invoke(cli, args)
    finally:
        signal.signal(signal.SIGINT, handler)


def test_ctrl_c_while_the_command_line_is_read_is_an_interruption(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """click reads the command line outside any command: a Ctrl-C there is still one
    line and exit 3, not click's "Aborted!" and exit 1."""

    def parse_interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("click.Group.parse_args", parse_interrupted)
    result = invoke_keeping_ctrl_c(["scans"])
    assert (result.exit_code, result.output) == (3, "omscan: interrupted\n")


def omscan_process(patch: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``omscan ARGS`` as its own process, after the Python statements ``patch``."""
    program = f"import sys\n{patch}\nfrom scanner.__main__ import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", program, *args], capture_output=True, text=True, cwd=cwd
    )


def test_ctrl_c_before_click_takes_the_command_line_is_an_interruption(tmp_path: Path) -> None:
    """Between Python's start and click's own handling (``main`` sets up logging, click
    finds the program's name): one line and exit 3, not a traceback."""
    patch = (
        "import logging\n"
        "def get_logger(name=None):\n"
        "    raise KeyboardInterrupt\n"
        "logging.getLogger = get_logger"
    )
    done = omscan_process(patch, "scans", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (3, "omscan: interrupted\n")


def test_a_ctrl_c_once_the_command_has_ended_changes_nothing(tmp_path: Path) -> None:
    """A Ctrl-C while click closes the command line's context, after the command: the
    command's outcome stands."""
    patch = (
        "import os, signal, click\n"
        "close = click.Context.close\n"
        "def interrupted_close(self):\n"
        "    if self.parent is None:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    close(self)\n"
        "click.Context.close = interrupted_close"
    )
    done = omscan_process(patch, "demo", "repo", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("wrote ")


def test_a_thread_dying_for_a_closed_event_loop_prints_nothing_other_deaths_do() -> None:
    """aiosqlite's thread, finishing a call after a Ctrl-C closed the loop, dies with
    RuntimeError('Event loop is closed'): that line is noise, any other is reported."""
    code = (
        "import threading; from scanner.__main__ import _quiet_after_the_loop as hook;"
        " threading.excepthook = hook\n"
        "def fail(exc):\n"
        "    raise exc\n"
        "for exc in (RuntimeError('Event loop is closed'), ValueError('a real bug')):\n"
        "    thread = threading.Thread(target=fail, args=(exc,)); thread.start(); thread.join()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0
    assert "Event loop is closed" not in done.stderr
    assert "ValueError: a real bug" in done.stderr and "Traceback" in done.stderr
