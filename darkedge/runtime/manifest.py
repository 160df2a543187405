"""RUN/export/manifest.json: what `darkedge export` wrote ({"files": {file name: entry}}), read in one place.

An entry holds the model, precision, format, input shape and class names of one exported file, so that a
predictor (or an engine built by hand beside the exports) knows what it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from darkedge.errors import DarkedgeError

MANIFEST = "manifest.json"


def read_manifest(export_dir: Path) -> dict[str, Any]:
    """The manifest of `export_dir`, or an empty one; a damaged file is a one-line error."""
    path = Path(export_dir) / MANIFEST
    if not path.is_file():
        return {"files": {}}
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest.get("files"), dict):
            raise ValueError
    except (OSError, ValueError, AttributeError):
        raise DarkedgeError(f"{path}: not a darkedge export manifest") from None
    return manifest


def manifest_entry(path: Path) -> dict[str, Any]:
    """The manifest entry of the exported file `path`, or {} when no manifest beside it names it."""
    entry = read_manifest(Path(path).parent)["files"].get(Path(path).name)
    return entry if isinstance(entry, dict) else {}


def any_class_names(export_dir: Path) -> list[str]:
    """Class names from any entry: every file in a run's export folder comes from the same run."""
    entries = read_manifest(export_dir)["files"].values()
    return next((list(e["class_names"]) for e in entries if isinstance(e, dict) and e.get("class_names")), [])
