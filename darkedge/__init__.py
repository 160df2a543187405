"""darkedge: action recognition in dark video, distilled to one INT8 network for edge boxes."""

import os
from importlib.metadata import PackageNotFoundError, version

# NNCF compiles its CPU fake-quantization kernels on first use and gives up after 60 s by default, which a
# fresh 2-core box (or a Jetson) can exceed; allow it ten minutes unless the user chose otherwise.
os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "600")

try:
    __version__ = version("darkedge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
