#!/usr/bin/env bash
# Create a virtual environment with the pinned dependencies and this package installed.
#   bash scripts/install.sh [VENV_DIR]      (default: .venv)
# torch/torchvision are pinned first and exactly (an unpinned torchvision drags in another torch);
# the rest comes from requirements/lock.txt. Plain pip on purpose: it reuses wheels already on disk.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.deps-complete" ]; then
    echo "[install] creating $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet "torch==2.14.1" "torchvision==0.29.1"
    "$VENV/bin/pip" install --quiet -r "$ROOT/requirements/lock.txt"
    touch "$VENV/.deps-complete"
fi
"$VENV/bin/pip" install --quiet --no-deps --no-build-isolation -e "$ROOT"
echo "[install] ready: $VENV/bin/unified-bench"
