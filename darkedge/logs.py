"""Messages: every module logs to `logging.getLogger(__name__)`; `setup_logging` prints them on stderr.

The command line calls `setup_logging` once (`darkedge --verbose` / `--quiet` choose the level), as a script
driving darkedge's functions may. Progress bars are tqdm's, on stderr, whatever the level.
"""

from __future__ import annotations

import logging
import sys
import time


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


LINE_EVERY_S = 30.0  # where stderr is no terminal, a progress line at most this often (and one at the end)


def progress(iterable=None, *, desc: str, total: int | None = None, unit: str = "it", disable: bool = False,
             lines: bool = True, **bar_options):  # fmt: skip
    """Progress of a long loop: tqdm's bar on a terminal; where stderr is no terminal (`darkedge train > log`, a
    systemd journal) no carriage-return bars but a line at most every LINE_EVERY_S seconds and one at the end (none
    with `lines=False`: a loop whose caller logs its own line, as each training epoch does)."""
    from tqdm import tqdm

    if disable or sys.stderr.isatty():
        return tqdm(
            iterable, desc=desc, total=total, unit=unit, disable=disable, file=sys.stderr, **bar_options
        )
    return Lines(iterable, desc=desc, total=total, unit=unit, lines=lines)


class Lines:
    """What `progress` gives where stderr is no terminal: tqdm's calls (iteration, update, set_postfix, close, a
    context manager), written as plain log lines."""

    def __init__(self, iterable=None, *, desc: str, total: int | None, unit: str, lines: bool = True):
        self._time = time.monotonic
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.desc, self.total, self.unit, self.lines = iterable, desc, total, unit, lines
        self.n, self.postfix, self.closed = 0, "", False
        self.started = self.shown = self._time()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def __len__(self) -> int:
        return len(self.iterable)

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.lines and self._time() - self.shown >= LINE_EVERY_S:
            self.shown = self._time()
            self._line()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def _line(self) -> None:
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        extra = f", {self.postfix}" if self.postfix else ""
        seconds = self._time() - self.started
        rate = f", {self.n / seconds:.1f} {self.unit}/s" if seconds > 0 else ""
        logging.getLogger("darkedge").info(f"{self.desc}: {done} {self.unit} in {seconds:.0f} s{rate}{extra}")

    def close(self) -> None:
        if not self.closed and self.lines and self.n:
            self._line()
        self.closed = True
