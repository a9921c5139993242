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


def test_setup_installs_the_release_from_pypi_first():
    "`mask-detection[colab]==<version>` from PyPI (the package's own version), the git tag only as fallback."
    s = colab_setup.settings()
    assert colab_setup.pypi_pin() == f"mask-detection[colab]=={s['version']}"
    src = colab_setup.setup_source()
    assert src.index(colab_setup.pypi_pin()) < src.index(colab_setup.pin()), 'PyPI must be tried before the git URL'
    assert 'returncode' in src, 'the git URL is a fallback, used only when the PyPI install fails'
    import re
    init = (ROOT/'mask_detection'/'__init__.py').read_text(encoding='utf-8')
    assert re.search(rf"__version__\s*=\s*['\"]{re.escape(s['version'])}['\"]", init), 'settings.ini and mask_detection.__version__ disagree'
