"""`python -m scanner` and the `omscan` command."""

from __future__ import annotations

import _thread
import signal
import sys
from typing import Any


def _deliver_again(unraisable: Any) -> None:
    """A Ctrl-C that lands in a finaliser or an import lock's cleanup is printed as
    "Exception ignored" and lost; deliver it again, where it can end the command: from
    another thread, so that it is raised after this hook returns, not inside it."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        _thread.start_new_thread(_thread.interrupt_main, ())
        return
    sys.__unraisablehook__(unraisable)


def main() -> None:
    """The command line. Once its outcome is decided, a late Ctrl-C changes nothing."""
    sys.unraisablehook = _deliver_again
    try:
        # A Ctrl-C held back while Python started (a launcher may block SIGINT until the
        # handling is in place) is delivered here, inside it.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        from .cli import main as omscan
    except KeyboardInterrupt:  # Ctrl-C while Python imports the command line itself
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("omscan: interrupted", file=sys.stderr)  # as scanner.cli.exits.interrupted
        sys.exit(3)
    try:
        omscan()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
