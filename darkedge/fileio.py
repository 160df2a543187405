"""Atomic writes, and no temporary file left behind when a command is interrupted.

Every large file is written to a hidden temporary file beside its target and renamed onto the real name only
once it is complete (`atomic_path`, and data.writer.VideoWriter for videos), so a crash never leaves a
half-written artifact under the real name. The temporary files are registered here; inside
`cleanup_on_interrupt` (the CLI wraps every command in it) SIGTERM raises `Terminated` in the main thread as
Ctrl-C raises KeyboardInterrupt, so `finally` blocks and `with` exits delete what they were writing, and
whatever this process still has registered is removed before the exception leaves. A forked worker process
(a multiprocessing pool, DataLoader workers) that receives SIGTERM removes its own temporary files and exits.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from darkedge.errors import DarkedgeError

# Temporary files not yet renamed or deleted, each with the process that made it (forked workers inherit
# the dict, and must not delete their parent's files).
_temporary: dict[Path, int] = {}
_handler_pid: int | None = None  # the process whose SIGTERM raises Terminated


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C's KeyboardInterrupt; the CLI prints one line and exits 143."""

    signal_name = "SIGTERM"
    exit_code = 128 + signal.SIGTERM


def interruption(error: KeyboardInterrupt) -> tuple[str, int]:
    """The signal's name and the conventional exit code (128 + signal number) for an interruption."""
    if isinstance(error, Terminated):
        return error.signal_name, error.exit_code
    return "SIGINT", 128 + signal.SIGINT


def interrupt_in(error: BaseException) -> KeyboardInterrupt | None:
    """The interruption `error` is, or was raised while unwinding from (a DataLoader worker the same SIGTERM
    ended, reported by torch as a RuntimeError on the way out); None when there was none."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, KeyboardInterrupt):
        cause = cause.__context__
    return cause


def temporary_beside(path: str | os.PathLike, keep_extension: bool = False, folder: bool = False) -> Path:
    """A new, registered, empty hidden file beside `path` (`.name.XXXX.tmp`, or `.stem.XXXX.ext` with
    `keep_extension`, for writers that pick the format by extension), or an empty folder (`folder`); rename it
    with `commit_temporary`, or delete it with `discard_temporary`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = (f".{path.stem}.", path.suffix) if keep_extension else (f".{path.name}.", ".tmp")
    while True:
        tmp = path.parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        _temporary[tmp] = os.getpid()  # registered before it exists: a signal can never orphan it
        try:
            if folder:
                os.mkdir(tmp)
            else:  # 0o666 less the umask: the artifact gets the usual permissions (mkstemp would make it 0600)
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            _temporary.pop(tmp, None)


def commit_temporary(tmp: Path, path: str | os.PathLike) -> None:
    """Move the complete temporary file onto its real name."""
    os.replace(tmp, path)
    _temporary.pop(tmp, None)


def discard_temporary(tmp: Path) -> None:
    """Delete a temporary file or folder (the write failed or was interrupted)."""
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)
    _temporary.pop(tmp, None)


def remove_temporary_files() -> int:
    """Delete every temporary file this process made and has not renamed yet; how many were left."""
    mine = [tmp for tmp, pid in _temporary.items() if pid == os.getpid()]
    for tmp in mine:
        discard_temporary(tmp)
    return len(mine)


def _on_sigterm(signum: int, _frame: object) -> None:
    if os.getpid() != _handler_pid:  # a forked worker: its parent reports the interruption
        remove_temporary_files()
        os._exit(128 + signum)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    # DataLoader workers the signal also reached die: torch's SIGCHLD handler must not raise over Terminated
    # while the stack unwinds
    quiet_sigchld()
    raise Terminated


def _no_op(_signum: int, _frame: object) -> None:
    """A Python-level handler that does nothing (see quiet_sigchld)."""


def quiet_sigchld() -> None:
    """Let child processes end silently from now on (DataLoader workers an interruption also reached). A Python
    no-op handler, not SIG_DFL: a SIGCHLD already pending when the handler changes would otherwise be reported by
    Python as "Signal 17 ignored due to race condition", with a traceback."""
    if hasattr(signal, "SIGCHLD"):
        signal.signal(signal.SIGCHLD, _no_op)


@contextmanager
def cleanup_on_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises Terminated; on Terminated or KeyboardInterrupt, leftover temporary files of
    this process are removed before the exception goes on. Only the main thread can handle signals."""
    global _handler_pid
    if threading.current_thread() is not threading.main_thread() or _handler_pid == os.getpid():
        yield  # no signals off the main thread; nested (a command group's command): already in place
        return
    _handler_pid = os.getpid()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except BaseException as e:
        if interrupt_in(e) is not None:
            remove_temporary_files()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        _handler_pid = None


def ignore_sigint() -> None:
    """Pool-worker initializer: Ctrl-C goes to the parent, which stops the pool (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs (they arrive, and act, right after it); a no-op where the
    platform has no signal masks."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def atomic_path(path: str | os.PathLike, companions: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    `companions` are the suffixes of files the block writes beside the temporary path under its stem (OpenVINO's
    .bin beside the .xml). The temporary path then has `path`'s own name, inside a hidden folder (such writers
    check the extension and derive the companions' names from it), and the companions are renamed in first: the
    file readers open comes last.
    """
    path = Path(path)
    if companions:
        folder = temporary_beside(path, folder=True)
        try:
            yield folder / path.name
            # the renames as one step: a signal between two of them would leave a new .bin beside an old .xml
            with signals_held():
                for suffix in companions:
                    os.replace(folder / f"{path.stem}{suffix}", path.with_suffix(suffix))
                os.replace(folder / path.name, path)
        finally:
            discard_temporary(folder)
        return
    tmp = temporary_beside(path)
    try:
        yield tmp
        commit_temporary(tmp, path)
    finally:
        discard_temporary(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Parse the JSON file at `path` (`default` when it does not exist); a damaged file is a one-line error."""
    path = Path(path)
    if default is not None and not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DarkedgeError(f"{path}: unreadable JSON ({type(e).__name__}: {str(e)[:100]})") from None


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Lay out a matplotlib figure, write it to `path` as PNG atomically, and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return Path(path)
