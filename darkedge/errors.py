"""The one exception type users see: its message is a single line naming the file and the problem."""

from __future__ import annotations

import importlib
from types import ModuleType


class DarkedgeError(Exception):
    """A problem with the user's input or files; the CLI prints it as one line and exits non-zero."""


def require(module: str, what: object) -> ModuleType:
    """Import the module a backend needs, or fail with one line naming `what` needs it and the package to install
    (each backend's pip package has its module's name)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DarkedgeError(f"{what}: backend '{module}' is not installed (pip install {module})") from None
