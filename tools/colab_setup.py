#!/usr/bin/env python
"""The Colab set-up cell every chapter opens with, pinned to the release in settings.ini.

    python tools/colab_setup.py          rewrite the set-up cell of every chapter (after a version bump)
    python tools/colab_setup.py --check  exit 1 if a chapter's set-up cell differs
    python tools/colab_setup.py NAME.ipynb ...   only these chapters

The cell is plain Python (no `%pip` magic, which nbdev's docs processor would drop, leaving a
dangling `if`): on Colab it pip-installs the release from PyPI (`mask-detection[colab]==<version>`,
the version of settings.ini, which is also `mask_detection.__version__`), falls back to the git
repository at tag v<version> when that version is not on PyPI (yet), and points the work folder
(`$MASK_DETECTION_WORK`) at `/content/mask_detection`; anywhere else it does nothing.
tests/test_colab.py checks every chapter against `setup_source()`.
"""
import configparser
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "'google.colab' in sys.modules"


def settings():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT']


PYPI_NAME = 'mask-detection'


def pypi_pin():
    "The pip requirement the set-up cell installs first: the release on PyPI."
    return f"{PYPI_NAME}[colab]=={settings()['version']}"


def pin():
    "The fallback requirement, for a version not on PyPI: the git repository at tag v<version>."
    s = settings()
    return f"mask_detection[colab] @ git+https://github.com/{s['user']}/{s['repo']}@v{s['version']}"


def setup_source():
    pip = "[sys.executable, '-m', 'pip', 'install', '-q', "
    return ("# On Colab only: install the course package at its release; keep work files in /content/mask_detection\n"
            "import os, subprocess, sys\n"
            f"if {MARK}:\n"
            f"    if subprocess.run({pip}'{pypi_pin()}']).returncode:   # not on PyPI: the release tag on GitHub\n"
            f"        subprocess.run({pip}'{pin()}'], check=True)\n"
            "    os.environ.setdefault('MASK_DETECTION_WORK', '/content/mask_detection')")


def is_setup(src):
    "True for a chapter's Colab set-up cell (not any cell that merely checks for Colab)."
    return MARK in src and 'pip' in src


def chapters(): return sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))


def main(argv):
    check, bad = '--check' in argv, []
    only = {a for a in argv if a.endswith('.ipynb')}   # file names: rewrite only these chapters
    for p in chapters():
        if only and p.name not in only: continue
        nb = json.loads(p.read_text(encoding='utf-8'))
        cells = [c for c in nb['cells'] if c['cell_type'] == 'code' and is_setup(''.join(c['source']))]
        if len(cells) != 1: bad.append(f'{p.name}: {len(cells)} set-up cells'); continue
        if ''.join(cells[0]['source']) == setup_source(): continue
        bad.append(f'{p.name}: set-up cell differs')
        if not check:
            cells[0]['source'] = setup_source().splitlines(keepends=True)
            p.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    print('\n'.join(bad) or 'every chapter has the set-up cell')
    return 1 if (check and bad) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
