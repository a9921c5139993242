#!/usr/bin/env python
"""Run chapter notebooks top to bottom the way a fresh Colab runtime would, in quick mode.

    python tools/run_chapters.py [NOTEBOOK ...]      (default: index and every numbered chapter in nbs/)

For each notebook:
- copies `nbs/` (the notebooks and the files they read, such as `figures.csv`) to a new temporary
  folder outside the checkout and runs the notebook there, so `../` is not the repository;
- gives it a new, empty work folder (`$MASK_DETECTION_WORK`) and quick mode (`$MASK_DETECTION_QUICK=1`);
- executes every code cell in order with nbclient and the kernel of the Python running this script,
  skipping the cells nbdev_test skips: those whose leading `#|` directives include a `tst_flags` flag
  of settings.ini (`slow`) or `eval: false`;
- fails if a cell raises, or if the notebook wrote any file beside it or above it (work files belong
  in the work folder).

Prints one line per notebook (seconds, skipped cells) and a closing `N passed, N failed` line;
exit status 1 if any notebook failed. The executed notebooks are not kept.
"""
import configparser
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
CHAPTER_RE = re.compile(r'^(index|\d\d[a-z]?_[\w-]+)\.ipynb$')
DIRECTIVE_RE = re.compile(r'^\s*#\|\s*([\w-]+:?)\s*(.*?)\s*$')


def skip_flags():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    return set(cfg['DEFAULT'].get('tst_flags', '').split())


def directives(src):
    "The `#| name value` lines at the top of a cell, as nbdev reads them: {name: value}."
    res = {}
    for line in src.splitlines():
        if not line.strip(): continue
        m = DIRECTIVE_RE.match(line)
        if not m: break
        res[m[1].rstrip(':')] = m[2]
    return res


def skipped(cell, flags):
    "True for a cell nbdev_test would not run."
    if cell.cell_type != 'code': return True
    d = directives(cell.source)
    return bool(flags & d.keys()) or d.get('eval', '').lower() == 'false'


def listing(folder):
    return {p.relative_to(folder) for p in folder.rglob('*') if '.ipynb_checkpoints' not in p.parts}


def run_one(nb_path, flags, timeout=900):
    "Run one notebook in a temporary copy of nbs/; return (ok, message, seconds, skipped cells)."
    with tempfile.TemporaryDirectory(prefix='colab-run-') as tmp, \
         tempfile.TemporaryDirectory(prefix='colab-work-') as work:
        top = Path(tmp)/'content'
        shutil.copytree(NBS, top/'nbs', ignore=shutil.ignore_patterns('_proc', '_docs', '.ipynb_checkpoints'))
        before = listing(top)
        nb = nbformat.read(top/'nbs'/nb_path.name, as_version=4)
        cells = [c for c in nb.cells if not skipped(c, flags)]
        nskip = sum(c.cell_type == 'code' for c in nb.cells) - len(cells)
        run_nb = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
        env = {**os.environ, 'MASK_DETECTION_WORK': work, 'MASK_DETECTION_QUICK': '1',
               'TF_CPP_MIN_LOG_LEVEL': os.environ.get('TF_CPP_MIN_LOG_LEVEL', '3')}
        env.pop('IN_TEST', None)
        t0 = time.time()
        client = NotebookClient(run_nb, timeout=timeout, kernel_name='python3',
                                resources={'metadata': {'path': str(top/'nbs')}})
        old = dict(os.environ)
        os.environ.clear(); os.environ.update(env)  # the kernel inherits this environment
        try: client.execute()
        except CellExecutionError as e:
            return False, str(e).strip()[-3000:], time.time() - t0, nskip
        finally: os.environ.clear(); os.environ.update(old)
        secs = time.time() - t0
        new = sorted(str(p) for p in listing(top) - before)
        if new:
            return False, f'wrote outside its work folder: {new[:10]}', secs, nskip
        return True, '', secs, nskip


def main(argv):
    names = [Path(a).name for a in argv] or sorted(p.name for p in NBS.glob('*.ipynb') if CHAPTER_RE.match(p.name))
    flags = skip_flags()
    print(f'run_chapters: {len(names)} notebooks with {sys.executable} (Python {sys.version.split()[0]}), '
          f'quick mode, skipping cells flagged {sorted(flags)}', flush=True)
    passed, failed = [], []
    for n in names:
        ok, msg, secs, nskip = run_one(NBS/n, flags)
        (passed if ok else failed).append(n)
        print(f"{'ok  ' if ok else 'FAIL'} {n:32s} {secs:6.0f} s  ({nskip} cells skipped)", flush=True)
        if not ok: print('     ' + msg.replace('\n', '\n     '), flush=True)
    print(f'{len(passed)} passed, {len(failed)} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
