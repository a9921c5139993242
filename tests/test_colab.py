"Every chapter opens in Colab from its GitHub notebook, and installs the course there first."
import configparser
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT/'nbs').glob('[0-9]*.ipynb'))


def settings():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT']


def test_chapters_exist():
    assert len(CHAPTERS) >= 14


@pytest.mark.parametrize('nb', CHAPTERS, ids=lambda p: p.name)
def test_badge_and_colab_setup(nb):
    s = settings()
    cells = json.loads(nb.read_text())['cells']
    src = [''.join(c['source']) for c in cells]
    code = [t for t, c in zip(src, cells) if c['cell_type'] == 'code']
    url = f"https://colab.research.google.com/github/{s['user']}/{s['repo']}/blob/{s['branch']}/nbs/{nb.name}"
    badge = [i for i, t in enumerate(src) if url in t and 'colab-badge.svg' in t]
    assert badge, f"{nb.name}: no Open-in-Colab badge linking {url}"
    setup = src[badge[0] + 1]
    assert "'google.colab' in sys.modules" in setup, f"{nb.name}: the cell after the badge is not the Colab-only setup"
    assert f"git+https://github.com/{s['user']}/{s['repo']}" in setup, f"{nb.name}: Colab setup does not install from {s['git_url']}"
    assert not any('/work/' in t or '../shared' in t for t in code), f"{nb.name}: a cell assumes a local path"
