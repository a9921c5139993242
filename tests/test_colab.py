"The Colab set-up cell: pinned to the release in settings.ini, inert elsewhere (its place in each chapter: test_notebooks.py)."
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import colab_setup  # noqa: E402  the set-up cell's text, from settings.ini

CHAPTERS = sorted(p for p in (ROOT/'nbs').glob('[0-9]*.ipynb'))


def test_chapters_exist():
    assert len(CHAPTERS) >= 14


def test_pin_is_the_release():
    s = colab_setup.settings()
    assert colab_setup.pin().endswith(f"@v{s['version']}"), colab_setup.pin()
    assert f"git+https://github.com/{s['user']}/{s['repo']}@v{s['version']}" in colab_setup.setup_source()


def test_setup_cell_runs_nothing_off_colab():
    "Off Colab the set-up cell installs nothing and changes no setting."
    import os
    env = dict(os.environ)
    exec(compile(colab_setup.setup_source(), 'setup', 'exec'), {})
    assert dict(os.environ) == env


def test_setup_script_agrees():
    assert colab_setup.main(['--check']) == 0
