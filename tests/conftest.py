import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
FULL_DATA = ROOT.parent/'shared'/'data'/'face-mask-detection'
CLI = shutil.which('mask-detection', path=str(Path(sys.executable).parent)) or 'mask-detection'


def run_cli(*args, cwd=None, env=None):
    "Run the installed console script; return the CompletedProcess."
    e = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', **(env or {})}
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=e, timeout=900)


def run_main(*args):
    """`mask_detection.cli.main` in this process, as `run_cli` runs the console script: its exit status, standard output
    and standard error. TensorFlow and the shipped models load once for the whole session, not once a call (4-7 s each);
    the tests of what only a separate process shows (start-up, memory, kills, terminals, locks) keep `run_cli`."""
    from mask_detection.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in args])
        except SystemExit as e: rc = e.code if isinstance(e.code, int) else 1
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture
def sample_copy(tmp_path):
    "A writable copy of the bundled sample."
    from mask_detection.data import sample_dir
    dst = tmp_path/'data'
    shutil.copytree(sample_dir(), dst)
    return dst
