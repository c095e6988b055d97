"""`python -m scanner` and the `omscan` command."""

from __future__ import annotations

import signal
import sys


def main() -> None:
    """The command line. Once its outcome is decided, a late Ctrl-C changes nothing."""
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
