#!/usr/bin/env bash
# Install what detectron2_tubes needs into the current Python (activate a venv first to isolate
# it). Quick when everything is already there: one import check, then nothing is downloaded.
set -euo pipefail
PY="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

# Everything importable, at compatible versions, and detectron2_tubes from THIS checkout?
check() {
  (cd / && "$PY" - "$ROOT" <<'PYCHECK'
import os, sys
import numpy, cv2, scipy, motmetrics, pycocotools, fvcore, pytest, pkg_resources  # noqa
import onnx, onnxruntime  # noqa
if sys.version_info < (3, 12):
    import trackeval  # noqa
import torch, torchvision
from torchvision.ops import nms  # fails when torchvision does not match torch
import detectron2
import detectron2_tubes, posetrack_core, tubes_cli
assert int(numpy.__version__.split(".")[0]) < 2, "numpy>=2"
assert int(cv2.__version__.split(".")[0]) < 5, "opencv>=5"
assert motmetrics.__version__ == "1.4.0", "motmetrics"
for package in (detectron2_tubes, posetrack_core, tubes_cli):
    here = os.path.dirname(os.path.dirname(os.path.abspath(package.__file__)))
    assert os.path.samefile(here, sys.argv[1]), f"{package.__name__} installed from {here}"
PYCHECK
  ) >/dev/null 2>&1
}

if check; then
  echo "install: everything is already installed"
  exit 0
fi

# trackeval 1.0.0 (box HOTA/IDF1): its later releases need numpy>=2, Detectron2 numpy<2; 1.0.0
# declares Python < 3.12, so pip leaves it out there (eval_mot then says it is missing).
deps=("numpy<2" "setuptools<80" "opencv-python<5" scipy "motmetrics==1.4.0"
      "trackeval==1.0.0; python_version < '3.12'" pytest
      fvcore iopath pycocotools "omegaconf>=2.1,<2.4" hydra-core yacs termcolor tabulate
      cloudpickle tqdm matplotlib tensorboard
      onnx onnxruntime)  # optional for users (ONNX export); the tests check the export
# Keep a working torch/torchvision pair if there is one; otherwise install the tested pair.
if ! (cd / && "$PY" -c "import torch, torchvision; from torchvision.ops import nms") >/dev/null 2>&1; then
  deps=("torch==2.14.1" "torchvision==0.29.1" "${deps[@]}")
fi
echo "install: pip install ${deps[*]}"
"${PIP[@]}" "${deps[@]}"

# Detectron2 is not published on PyPI by its authors. Keep a user's own build; otherwise use
# the sal-detectron2 redistribution (a cp310 wheel of upstream main whose Python code runs on
# newer Pythons; its optional C++ ops are not needed here).
if ! (cd / && "$PY" -c "import detectron2") >/dev/null 2>&1; then
  SITE="$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")"
  echo "install: Detectron2 (sal-detectron2==0.7.2) into $SITE"
  "${PIP[@]}" --no-deps --only-binary=:all: --python-version 3.10 --upgrade \
    --target "$SITE" sal-detectron2==0.7.2
fi

echo "install: detectron2_tubes (editable) from $ROOT"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"
check || { echo "install: the environment is still incomplete; run: $PY -c 'import detectron2_tubes'" >&2; exit 1; }
echo "install: done"
