"""darkedge: action recognition in dark video, distilled to one INT8 network for edge boxes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("darkedge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
