"""The committed notebooks read like a course: checks on every notebook in nbs/.

- Size budget: no notebook over 2 MB, all together under 8 MB (figures at web resolution:
  `tools/tidy_outputs.py` shrinks them).
- Committed outputs hold no machine path (/work/, /root/, /tmp/, /home/), no traceback or error
  output, no tqdm progress dump and no Python warning (`tools/tidy_outputs.py --check` agrees).
- Every chapter opens the same way: `#| default_exp` (where it has one), the title, the Open-in-Colab
  badge with what the chapter needs (GPU, time on a Colab T4 and on 2 CPU cores, memory), the Colab
  set-up cell (`tools/colab_setup.py`), then the `#| hide` test imports; nothing before the set-up
  cell imports anything, and no cell needs nbdev.
"""
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import colab_setup  # noqa: E402
import tidy_outputs  # noqa: E402

NOTEBOOKS = sorted((ROOT/'nbs').glob('*.ipynb'))
CHAPTERS = [p for p in NOTEBOOKS if re.match(r'\d', p.name)]
MB = 1_000_000
NEEDS_RE = re.compile(r'\*\*Needs\.\*\*.*GPU.*Colab T4.*2 CPU cores.*memory', re.S | re.I)


def cells(nb): return json.loads(nb.read_text(encoding='utf-8'))['cells']
def src(c): return ''.join(c['source'])


def output_texts(c):
    "(kind, text) of each output of a cell: streams, text/* and json data, error outputs."
    for o in c.get('outputs', []):
        if o.get('output_type') == 'error':
            yield 'error', f"{o.get('ename')}: {o.get('evalue')}\n" + '\n'.join(o.get('traceback', []))
        if 'text' in o: yield o.get('name', 'stream'), src({'source': o['text']})
        for mime, v in o.get('data', {}).items():
            if mime.startswith('text/') or mime == 'application/json': yield mime, v if isinstance(v, str) else ''.join(map(str, v))


def test_size_budget():
    sizes = {p.name: p.stat().st_size for p in NOTEBOOKS}
    big = {n: f'{s / MB:.2f} MB' for n, s in sizes.items() if s > 2 * MB}
    assert not big, f'notebooks over 2 MB (run tools/tidy_outputs.py): {big}'
    assert sum(sizes.values()) < 8 * MB, f'the notebooks weigh {sum(sizes.values()) / MB:.1f} MB together (budget 8 MB)'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.name)
def test_clean_outputs(nb):
    bad = []
    for i, c in enumerate(cells(nb)):
        for kind, t in output_texts(c):
            where = f'cell {i} ({kind})'
            if kind == 'error' or 'Traceback (most recent call last)' in t: bad.append(f'{where}: a traceback')
            if m := tidy_outputs.MACHINE_PATH_RE.search(t): bad.append(f"{where}: a machine path: ...{t[max(0, m.start() - 30):m.end() + 40]!r}")
            if kind == 'stderr' and tidy_outputs.is_tqdm(t): bad.append(f'{where}: a progress-bar dump')
            if kind == 'stderr' and tidy_outputs.WARNING_RE.search(t): bad.append(f'{where}: a warning: {t[:120]!r}')
    assert not bad, f'{nb.name}: ' + '; '.join(bad[:8]) + ' (fix the cell, or run tools/tidy_outputs.py)'


def test_tidy_has_nothing_left():
    assert tidy_outputs.main(['--check']) == 0, 'run tools/tidy_outputs.py'


@pytest.mark.parametrize('nb', CHAPTERS, ids=lambda p: p.name)
def test_opening_cells(nb):
    "default_exp, title, badge with what the chapter needs, the Colab set-up cell, then the test imports."
    s = colab_setup.settings()
    cs = cells(nb)
    code = [c for c in cs if c['cell_type'] == 'code']
    k = 1 if src(code[0]).startswith('#| default_exp') else 0
    setup = code[k]
    assert src(setup) == colab_setup.setup_source(), (
        f"{nb.name}: the first code cell after default_exp is not the Colab set-up cell "
        "(run tools/colab_setup.py to rewrite it from settings.ini)")
    before = ''.join(src(c) for c in code[:k])
    assert 'import' not in before, f'{nb.name}: a cell before the set-up cell imports something'
    assert sum(colab_setup.is_setup(src(c)) for c in code) == 1, f'{nb.name}: more than one set-up cell'
    # nothing needs nbdev to run a chapter
    for c in code:
        t = src(c)
        assert not re.search(r'^\s*(from|import)\s+nbdev\b', t, re.M), f'{nb.name}: a cell imports nbdev:\n{t[:200]}'
    # title, then the badge (pinned to the release, like the package) and what the chapter needs
    i = cs.index(setup)
    title, badge = cs[i - 2], cs[i - 1]
    assert title['cell_type'] == 'markdown' and re.match(r'#\s', src(title)), f'{nb.name}: no title right before the badge'
    url = f"https://colab.research.google.com/github/{s['user']}/{s['repo']}/blob/v{s['version']}/nbs/{nb.name}"
    assert url in src(badge) and 'colab-badge.svg' in src(badge), f'{nb.name}: no Open-in-Colab badge linking {url}'
    assert NEEDS_RE.search(src(badge)), f"{nb.name}: the badge cell does not say what the chapter needs (GPU, time on a Colab T4 and on 2 CPU cores, memory)"
    assert not any('/work/' in src(c) or '../shared' in src(c) for c in code), f'{nb.name}: a cell assumes a local path'
