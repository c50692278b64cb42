#!/usr/bin/env bash
# The fast suite on the oldest supported stack, in a virtual environment of its own (kept in
# output/venv-oldest; a rerun only checks it): Python 3.11 with numpy 1.26, OpenCV 4.9, SciPy
# 1.11 and TrackEval 1.0.0 (its last release for numpy 1), then `make install` into it, which
# keeps that numpy, and `pytest -m "not slow"`. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/output/venv-oldest"
PY="${OLDEST_PYTHON:-$(ls -d /root/.pyenv/versions/3.11.*/bin/python3 2>/dev/null | tail -n 1)}"
PY="${PY:-python3.11}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --only-binary=:all: \
    "numpy==1.26.4" "opencv-python==4.9.0.80" "scipy==1.11.4" "trackeval==1.0.0"
fi
make -C "$ROOT" --no-print-directory install PYTHON="$VENV/bin/python"
"$VENV/bin/python" -c "import numpy, cv2, scipy, trackeval, torch; print('oldest stack: numpy', numpy.__version__, 'OpenCV', cv2.__version__, 'SciPy', scipy.__version__, 'torch', torch.__version__)"
cd "$ROOT"
"$VENV/bin/python" -m pytest -m "not slow" "$@"
