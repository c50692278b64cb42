#!/usr/bin/env bash
# tests/posetrack_core: posetrack_core (the evaluator, the numpy tracker) and the commands that
# only read files (eval_posetrack, eval_mot, link), in a virtual environment of their own
# without torch or Detectron2: the current numpy, scipy, OpenCV, fvcore, TrackEval, pytest. Needs the package index once; kept in output/venv-torch-free.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/output/venv-torch-free"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q --only-binary=numpy,scipy,opencv-python \
    numpy scipy opencv-python fvcore trackeval pytest
fi
"$VENV/bin/python" -c "import numpy; print('numpy', numpy.__version__)"
cd "$ROOT"
"$VENV/bin/python" -m pytest -p no:cacheprovider tests/posetrack_core "$@"
