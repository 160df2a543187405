#!/usr/bin/env bash
# Fill .whl/ with the wheels `darkedge quantize` needs on the lent GPU machine, whose image (Python 3.12, torch
# cu130) has no NNCF and no network: nncf and the dependencies that image lacks, at the versions verified with
# nncf 3.4 here (about 39 MB, under the 64 MiB a device call carries). Run it where pip can reach the registry,
# then carry .whl/ to the GPU machine; benchmarks/gpu_check.sh installs it offline.
#
#   bash benchmarks/gpu_wheels.sh [PYTHON_VERSION]     # default 3.12
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${1:-3.12}" --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  --platform any -d .whl \
  nncf==3.4.0 networkx==3.6.1 ninja==1.13.2 openvino-telemetry==2025.2.0 pydot==4.0.1 pyparsing==3.3.2 \
  rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 pygments==2.20.0 scipy==1.17.1 tabulate==0.10.0
du -sh .whl
