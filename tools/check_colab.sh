#!/usr/bin/env bash
# Colab check: every chapter top to bottom, the way a fresh Colab runtime runs it.
#
#   tools/check_colab.sh [NOTEBOOK ...]      (default: every chapter in nbs/)
#
# 1. a venv with Python 3.13 (pyenv's 3.13.0, else python3.13 on PATH); $VENV_COLAB picks its folder
#    (default .venv-colab/ in the repo, which .gitignore lists);
# 2. only what Colab has that the chapters use (TensorFlow 2.20, Keras 3, fastcore 2, the scientific
#    stack, ipykernel, the graphviz package), plus what a chapter's first cell installs: this package
#    from the checkout, `pip install .`, no extras; with $COLAB_WHEEL set to a built wheel, that wheel
#    instead (the release workflow checks the wheel it is about to publish). No nbdev, no dev extra: nbdev is never needed to run
#    a chapter. nbclient and nbformat drive the notebooks (the runner, not something a chapter imports);
# 3. imports every module of the installed package and runs `mask-detection prepare --sample`;
# 4. tools/run_chapters.py: each chapter in a temporary copy of nbs/ outside the checkout (a write to
#    `../` fails the check), with a new empty work folder, in quick mode, skipping `#| slow` cells as
#    nbdev_test does.
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
[ -n "$PY" ] || { echo "check_colab: no Python 3.13 (pyenv 3.13.0 or python3.13 on PATH)" >&2; exit 2; }

VENV="${VENV_COLAB:-.venv-colab}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
step() { echo; echo "=== check_colab: $*"; }
t0=$(date +%s)

step "venv $VENV with $PY ($("$PY" -V 2>&1))"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip

# What Colab has (and the chapters use), at Colab's major versions; then the runner
step "Colab's packages"
"$VENV/bin/python" -m pip install -q "tensorflow==2.20.*" "keras>=3.12" "fastcore>=2,<3" ipykernel \
  numpy pandas matplotlib seaborn scikit-learn scikit-image scipy pillow opencv-python-headless tqdm pydot graphviz \
  nbclient nbformat
"$VENV/bin/python" -m pip uninstall -q -y mask_detection nbdev execnb 2>/dev/null || true

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if [ -n "${COLAB_WHEEL:-}" ]; then
  [ -f "$COLAB_WHEEL" ] || { echo "check_colab: COLAB_WHEEL=$COLAB_WHEEL is not a file" >&2; exit 2; }
  step "pip install $COLAB_WHEEL (the built wheel, as PyPI will serve it)"
  "$VENV/bin/python" -m pip install -q "$COLAB_WHEEL" > "$TMP/pip.log" 2>&1 || { cat "$TMP/pip.log"; exit 1; }
else
  step 'pip install . (what the chapters first cell installs on Colab, from this checkout)'
  # setuptools' build warnings go to a log, shown only if the install fails
  "$VENV/bin/python" -m pip install -q "$ROOT" > "$TMP/pip.log" 2>&1 || { cat "$TMP/pip.log"; exit 1; }
fi

step "versions and imports (the installed package, not the checkout)"
cat > "$TMP/imports.py" <<'PYEOF'
import importlib, importlib.util, pkgutil, sys
import tensorflow as tf, keras, fastcore
print(f"python {sys.version.split()[0]}  tensorflow {tf.__version__}  keras {keras.__version__}  fastcore {fastcore.__version__}")
assert sys.version_info[:2] == (3, 13), sys.version
assert tf.__version__.startswith("2.20."), tf.__version__
assert fastcore.__version__.startswith("2."), fastcore.__version__
assert importlib.util.find_spec("nbdev") is None, "nbdev is installed: the check must prove the chapters run without it"
import mask_detection
mods = sorted(m.name for m in pkgutil.iter_modules(mask_detection.__path__, "mask_detection."))
for m in mods: importlib.import_module(m)
print(f"mask_detection {mask_detection.__version__} from {mask_detection.__path__[0]}: imported {len(mods)} modules:",
      " ".join(m.split(".", 1)[1] for m in mods))
PYEOF
(cd "$TMP" && "$VENV/bin/python" imports.py)

step "mask-detection prepare --sample --out $TMP/prepared"
"$VENV/bin/mask-detection" prepare --sample --quiet --out "$TMP/prepared"

step "every chapter, top to bottom, quick mode, empty work folder, outside the checkout"
(cd "$TMP" && "$VENV/bin/python" "$ROOT/tools/run_chapters.py" "$@")

step "passed in $(( $(date +%s) - t0 )) s"
