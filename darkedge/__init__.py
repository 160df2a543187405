"""darkedge: action recognition in dark video, distilled to one INT8 network for edge boxes."""

import os
from importlib.metadata import PackageNotFoundError, version

# NNCF compiles its CPU fake-quantization kernels on first use and gives up after 60 s by default, which a
# fresh 2-core box (or a Jetson) can exceed; allow it ten minutes unless the user chose otherwise.
os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "600")
# OpenVINO's model converter and NNCF send usage telemetry unless told not to (openvino_telemetry takes a missing
# consent file for consent), from a worker thread that forks a process to send it: forked from a multi-threaded
# process, that child can deadlock and keep the command from exiting (seen: the test suite's process waiting at exit
# on children stuck in GA4Backend.send). An edge box should not phone home either. Their one switch short of writing
# a consent file into the user's home is their CI check, which declines telemetry.
os.environ.setdefault("CI", "true")

try:
    __version__ = version("darkedge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
