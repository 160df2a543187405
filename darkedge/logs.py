"""Messages: every module logs to `logging.getLogger(__name__)`; `setup_logging` prints them on stderr.

The command line calls `setup_logging` once (`darkedge --verbose` / `--quiet` choose the level), as a script
driving darkedge's functions may. Progress bars are tqdm's, on stderr, whatever the level.
"""

from __future__ import annotations

import logging
import sys


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a message comes (a test runner may have replaced it since)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _Format(logging.Formatter):
    """The message alone; warnings and errors say what they are."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Print darkedge's messages on stderr: info and up by default, debug too when `verbose`, only warnings and
    errors when `quiet`. Calling it again replaces the previous set-up."""
    logger = logging.getLogger("darkedge")
    for handler in [h for h in logger.handlers if isinstance(h, _Stderr)]:
        logger.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(_Format("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
