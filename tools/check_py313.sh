#!/usr/bin/env bash
# Python 3.13 check: the course on the Python and TensorFlow that Colab runs.
#
#   tools/check_py313.sh [NBDEV_TEST_ARGS...]
#
# 1. creates (or reuses) a venv with Python 3.13: pyenv's 3.13.0, else python3.13 on PATH;
#    $VENV313 picks its folder (default .venv313/ in the repo, which .gitignore lists);
# 2. pip install ".[dev]" "tensorflow==2.20.*" (TF 2.20 is Colab's);
# 3. prints the python / tensorflow / keras versions and imports every module of the
#    installed mask_detection;
# 4. runs `mask-detection prepare --sample --out <tmp>`;
# 5. runs that venv's nbdev_test (it sets IN_TEST, which puts the notebooks in quick mode) on
#    every notebook, or with the arguments given, e.g. `tools/check_py313.sh --path nbs/01_problem.ipynb`.
# Exits non-zero at the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3

PY=""
if command -v pyenv >/dev/null 2>&1 && [ -x "$(pyenv root)/versions/3.13.0/bin/python3.13" ]; then
  PY="$(pyenv root)/versions/3.13.0/bin/python3.13"
elif command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
  PY="$(command -v python3.13)"
fi
[ -n "$PY" ] || { echo "check_py313: no Python 3.13 (pyenv 3.13.0 or python3.13 on PATH)" >&2; exit 2; }

VENV="${VENV313:-.venv313}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
step() { echo; echo "=== check_py313: $*"; }

step "venv $VENV with $PY ($("$PY" -V 2>&1))"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip

step 'pip install ".[dev]" "tensorflow==2.20.*"'
"$VENV/bin/python" -m pip install -q ".[dev]" "tensorflow==2.20.*"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

step "versions and imports (the installed package, not the checkout)"
cat > "$TMP/imports.py" <<'PYEOF'
import importlib, pkgutil, sys
import tensorflow as tf, keras
print(f"python {sys.version.split()[0]}  tensorflow {tf.__version__}  keras {keras.__version__}")
assert sys.version_info[:2] == (3, 13), sys.version
assert tf.__version__.startswith("2.20."), tf.__version__
import mask_detection
mods = sorted(m.name for m in pkgutil.iter_modules(mask_detection.__path__, "mask_detection."))
for m in mods: importlib.import_module(m)
print(f"mask_detection {mask_detection.__version__} from {mask_detection.__path__[0]}: imported {len(mods)} modules:",
      " ".join(m.split(".", 1)[1] for m in mods))
PYEOF
(cd "$TMP" && "$VENV/bin/python" imports.py)

step "mask-detection prepare --sample --out $TMP/prepared"
"$VENV/bin/mask-detection" prepare --sample --quiet --out "$TMP/prepared"

step "nbdev_test $*"
"$VENV/bin/nbdev_test" "$@"

step "passed (python 3.13, tensorflow $("$VENV/bin/python" -c 'import tensorflow as tf; print(tf.__version__)' 2>/dev/null))"
