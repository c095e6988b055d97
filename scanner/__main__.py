"""`python -m scanner` and the `omscan` command."""

from __future__ import annotations

import _thread
import atexit
import os
import signal
import sys
import threading
from typing import Any, NoReturn


def _deliver_again(unraisable: Any) -> None:
    """A Ctrl-C that lands in a finaliser or an import lock's cleanup is printed as
    "Exception ignored" and lost; deliver it again, where it can end the command: from
    another thread, so that it is raised after this hook returns, not inside it."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        _thread.start_new_thread(_thread.interrupt_main, ())
        return
    sys.__unraisablehook__(unraisable)


def _quiet_after_the_loop(args: threading.ExceptHookArgs) -> None:
    """A driver's worker thread (aiosqlite's) that finishes a call after a Ctrl-C has
    closed the event loop it answers to cannot hand the result back and dies saying so:
    the command is ending as interrupted already, so that is not printed. Any other
    death of a thread is, as Python would."""
    if args.exc_type is RuntimeError and str(args.exc_value) == "Event loop is closed":
        return
    threading.__excepthook__(args)


def main() -> None:
    """The command line. Once its outcome is decided, a late Ctrl-C changes nothing."""
    sys.unraisablehook = _deliver_again
    threading.excepthook = _quiet_after_the_loop
    try:
        # A Ctrl-C held back while Python started (a launcher may block SIGINT until the
        # handling is in place) is delivered here, inside it.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        from .cli import main as omscan

        omscan()
    except SystemExit as done:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _exit_now(done.code)
    except KeyboardInterrupt:
        # Outside click's handling: while the command line imports, or before click takes it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("omscan: interrupted", file=sys.stderr)  # as scanner.cli.exits.interrupted
        _exit_now(3)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _exit_now(code: object) -> NoReturn:
    """End the process as ``sys.exit(code)`` would, without tearing the interpreter
    down: Python's finalisation frees every module and object one at a time, 0.1 s after
    an empty scan and 0.25 s after a full one, for nothing. The command has closed its
    files and databases by now; the exit handlers run and the output is flushed."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, a closed stream
            status = status or 120  # as Python's own exit does when stdout cannot flush
    os._exit(status)


if __name__ == "__main__":
    main()
