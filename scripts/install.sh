#!/usr/bin/env bash
# Install what detectron2_tubes needs into the current Python (activate a venv first to isolate
# it). Quick when everything is already there: one import check, then nothing is downloaded.
#
# What is already installed stays: numpy is never downgraded (numpy 1 stays numpy 1, numpy 2
# stays numpy 2), a working torch/torchvision pair and a Detectron2 build are kept. Packages
# with compiled code come as binary wheels only: where one has no wheel for this Python, the
# install stops with one line naming the package, instead of compiling it for half an hour.
set -euo pipefail
PY="${PYTHON:-python3}"
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;; esac  # runs from /
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYV="$(cd / && "$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
CHECK=("$PY" "$ROOT/scripts/check_install.py" "$ROOT")

if (cd / && "${CHECK[@]}" --quiet); then
  echo "install: everything is already installed (Python $PYV)"
  exit 0
fi

# Binary wheels only for these (pure-Python packages such as fvcore may still come as sources).
BINARY_ONLY=numpy,scipy,opencv-python,opencv-python-headless,contourpy,matplotlib,kiwisolver
BINARY_ONLY+=,pillow,pycocotools,onnx,onnxruntime,ml-dtypes,torch,torchvision,scikit-image
BINARY_ONLY+=,pyyaml,grpcio,protobuf,pandas,psutil
pip_install() {
  local log status=0
  log="$(mktemp)"
  "$PY" -m pip install --disable-pip-version-check -q --only-binary="$BINARY_ONLY" "$@" \
    >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    local missing avail
    missing="$(grep -oE 'No matching distribution found for [^ ]+' "$log" | head -n 1 | sed 's/.*for //')"
    avail="$(grep -m1 -oE 'from versions: [^)]*' "$log" | sed 's/from versions: //' || true)"
    if [ -n "$missing" ]; then
      [ -n "$avail" ] && [ "$avail" != none ] && avail="; its wheels here: ${avail%%,*} to ${avail##*, }"
      [ "$avail" = none ] && avail=""
      echo "install: no binary wheel of $missing for Python $PYV on $(uname -m)$avail;" \
           "not building it from source: use another Python, or install it yourself" >&2
    else
      tail -n 25 "$log" >&2
    fi
  fi
  rm -f "$log"
  return "$status"
}

deps=(setuptools scipy opencv-python pytest fvcore iopath pycocotools "omegaconf>=2.1,<2.4"
      hydra-core yacs termcolor tabulate cloudpickle tqdm matplotlib tensorboard
      onnx onnxruntime)  # onnx: optional for users (ONNX export); the tests check the export

# numpy: the installed release is kept (never downgraded); numpy 1 stays numpy 1, which decides
# TrackEval's release: 1.0.0 is its last for numpy 1 and needs Python < 3.12.
numpy_now="$(cd / && "$PY" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)"
if [ -z "$numpy_now" ]; then
  deps+=(numpy trackeval)
elif [ "${numpy_now%%.*}" -ge 2 ]; then
  deps+=("numpy>=$numpy_now" trackeval)
elif "$PY" -c 'import sys; sys.exit(sys.version_info >= (3, 12))'; then
  deps+=("numpy==$numpy_now" "trackeval==1.0.0")
else
  deps+=("numpy==$numpy_now")
  echo "install: numpy $numpy_now is kept; TrackEval has no release for numpy 1 on Python $PYV" \
       "(eval_mot's box HOTA/IDF1 need it): pip install 'numpy>=2.3.2' trackeval" >&2
fi

# Keep a working torch/torchvision pair if there is one; otherwise install the tested pair.
if ! (cd / && "$PY" -c "import torch, torchvision; from torchvision.ops import nms") >/dev/null 2>&1; then
  deps=("torch==2.14.1" "torchvision==0.29.1" "${deps[@]}")
fi
echo "install: Python $PYV: pip install ${deps[*]}"
pip_install "${deps[@]}"

# Detectron2 is not published on PyPI by its authors. Keep a user's own build; otherwise use
# the sal-detectron2 redistribution (a cp310 wheel of upstream main whose Python code runs on
# newer Pythons; its optional C++ ops are not needed here). Its declared numpy<2 is not applied
# (--no-deps): its Python code runs under numpy 2.
if ! (cd / && "$PY" -c "import detectron2") >/dev/null 2>&1; then
  SITE="$(cd / && "$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")"
  echo "install: Detectron2 (sal-detectron2==0.7.2) into $SITE"
  pip_install --no-deps --only-binary=:all: --python-version 3.10 --upgrade \
    --target "$SITE" sal-detectron2==0.7.2
fi

echo "install: detectron2_tubes (editable) from $ROOT"
pip_install --no-deps --no-build-isolation -e "$ROOT"
if ! (cd / && "${CHECK[@]}"); then
  echo "install: the environment is still incomplete (the lines above say what to install)" >&2
  exit 1
fi
echo "install: done (Python $PYV, numpy $(cd / && "$PY" -c 'import numpy; print(numpy.__version__)'))"
