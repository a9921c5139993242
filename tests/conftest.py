import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FULL_DATA = ROOT.parent/'shared'/'data'/'face-mask-detection'
CLI = shutil.which('mask-detection', path=str(Path(sys.executable).parent)) or 'mask-detection'


def run_cli(*args, cwd=None, env=None):
    "Run the installed console script; return the CompletedProcess."
    e = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', **(env or {})}
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=e, timeout=900)


@pytest.fixture
def sample_copy(tmp_path):
    "A writable copy of the bundled sample."
    from mask_detection.data import sample_dir
    dst = tmp_path/'data'
    shutil.copytree(sample_dir(), dst)
    return dst
