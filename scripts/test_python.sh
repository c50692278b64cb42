#!/usr/bin/env bash
# A fresh virtual environment of one Python (default 3.13, from pyenv, or PYTHON_BIN), `make
# install` into it timed, then the fast suite: scripts/test_python.sh 3.12 [pytest args]. The
# environment is made anew each time in output/venv-py<version>.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
V="${1:-3.13}"; shift || true
PY="${PYTHON_BIN:-$(ls -d /root/.pyenv/versions/$V.*/bin/python3 2>/dev/null | tail -n 1)}"
[ -n "$PY" ] || { echo "test_python: no Python $V found (set PYTHON_BIN)" >&2; exit 2; }
VENV="$ROOT/output/venv-py$V"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
start=$(date +%s)
make -C "$ROOT" --no-print-directory install PYTHON="$VENV/bin/python"
echo "test_python: make install on Python $V took $(( $(date +%s) - start )) s"
cd "$ROOT"
"$VENV/bin/python" -m pytest -m "not slow" "$@"
