#!/usr/bin/env bash
# Set up everything edgelearn and its book need, in ./.venv (created if missing).
#   bash scripts/install.sh            Python packages + edgelearn (editable)
#   bash scripts/install.sh --browser  the same, plus Debian's chromium for the browser test
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# pip byte-compiles every module as it installs (about 21 s of a fresh install here: 87.3 s against
# 66.2 s with --no-compile).  Keep it: with PYTHONDONTWRITEBYTECODE=1 (set on this project's machines)
# Python never writes a .pyc itself, so without pip's every process (kernels, Ray workers, the test
# workers) compiles torch & co. again from source: --no-compile made a fresh clone's pytest run 21 s
# slower (287.7 s against 266.5 s, same code; `import torch, cvxpy, matplotlib.pyplot, flwr, edgelearn`
# 5.96 s against 3.33 s).
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "edgelearn installed in .venv ($(.venv/bin/python -c 'import edgelearn; print(edgelearn.__version__)'))"
