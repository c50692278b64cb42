#!/usr/bin/env bash
# posetrack_core's evaluator (and the commands that only read files) under numpy 2, in a virtual
# environment of its own without torch or Detectron2 (which need numpy < 2): numpy >= 2, scipy,
# OpenCV, fvcore, py-motmetrics and TrackEval (references of some tests), pytest. Needs the
# package index once; the environment is kept in output/venv-numpy2.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/output/venv-numpy2"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q "numpy>=2" scipy opencv-python-headless \
    fvcore motmetrics trackeval pytest
fi
"$VENV/bin/python" -c "import numpy; print('numpy', numpy.__version__)"
cd "$ROOT"
"$VENV/bin/python" -m pytest -p no:cacheprovider tests/test_eval_posetrack.py \
  tests/test_hota_pose.py tests/test_box_metrics.py tests/test_link.py "$@"
