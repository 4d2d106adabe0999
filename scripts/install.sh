#!/usr/bin/env bash
# Set up everything edgelearn and its book need, in ./.venv (created if missing).
#   bash scripts/install.sh            Python packages + edgelearn (editable)
#   bash scripts/install.sh --browser  the same, plus Debian's chromium for the browser test
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# --no-compile: Python byte-compiles the modules it imports on first use; compiling every file of
# every package up front (torch alone has thousands) cost about 10 s of a fresh install here (73 s -> 63 s).
.venv/bin/python -m pip install -q --no-compile -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "edgelearn installed in .venv ($(.venv/bin/python -c 'import edgelearn; print(edgelearn.__version__)'))"
