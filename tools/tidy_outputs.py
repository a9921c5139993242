#!/usr/bin/env python
"""Tidy the committed outputs of the chapter notebooks for the site; safe to rerun.

    python tools/tidy_outputs.py [--check] [NOTEBOOK ...]   (default: every notebook in nbs/)

Run it after executing a notebook (and after `nbdev_clean`). It rewrites outputs only, never a
cell's source:
- drops tqdm progress bars (stderr streams of `\\r`-separated `NN%|...| n/N [...]` updates);
- drops Python warnings printed to stderr (`path.py:N: SomethingWarning: ...` and the source line
  under it); a chapter should filter the warnings it expects, this catches what slipped through;
- drops library log lines that say nothing to a reader (`NOISE_RE`): Keras' `WARNING:absl` notice
  that `.h5` files are legacy, and Keras' `Downloading data from ...` line (on the build machine a
  download that fails; the chapters also keep both from being printed);
- replaces machine paths with what a reader can map to their own machine: the dataset under a
  checkout's `shared/data/` becomes `shared/data/...` (a relative `../shared/data/` stays as it is), the package's bundled sample
  `mask_detection/sample`, a home folder `~/`, a temporary folder `$TMP/`;
- shrinks images for the web: a PNG wider than 1200 px is scaled down to 1200 px, and a PNG with
  photographic content (many colours) becomes a JPEG (quality 80) when that is smaller. Already
  tidied images are left as they are, so rerunning changes nothing.

`--check` rewrites nothing and exits 1 when some notebook would change. tests/test_notebooks.py
enforces the same rules and the size budget (no notebook over 2 MB, all under 8 MB).
"""
import argparse
import base64
import io
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
MAX_WIDTH = 1200
JPEG_QUALITY = 80
PHOTO_COLOURS = 20_000  # a PNG with more distinct colours than this is a photo, better as JPEG

TQDM_RE = re.compile(r'\d+%\|.*\|\s*\d+/\d+\s*\[')
WARNING_RE = re.compile(r'^\S*\.py:\d+: \w*Warning: .*\n(?:[ \t]+.*\n?)?', re.M)
# machine paths, most specific first: (pattern, replacement)
PATH_RULES = [
    (re.compile(r'(?:/[\w.+@-]+)+?/site-packages/'), 'site-packages/'),
    (re.compile(r'(?<![\w.])\.\.shared/data/'), '../shared/data/'),   # repairs what an earlier rule made of ../shared/data/
    (re.compile(r'(?<![\w.])(?:/(?:work|home|root|tmp|content|mnt|opt|srv)(?:/[\w.+@ -]+?)*)?/shared/data/'), 'shared/data/'),
    (re.compile(r'/(?:work|home|tmp|opt|srv)(?:/[\w.+@-]+)*?/mask_detection/sample\b'), 'mask_detection/sample'),
    (re.compile(r'/root/|/home/[\w.-]+/'), '~/'),
    (re.compile(r'/tmp/[\w.-]+'), '$TMP'),
    (re.compile(r'/work/[\w.-]+/'), './'),
]
# log lines dropped from any stream output: (pattern of the whole line)
NOISE_RE = re.compile(r'^(?:WARNING:absl:You are saving your model as an HDF5 file\b.*'
                      r'|Downloading data from https?://\S+'
                      r'|[EWI]\d{4} [\d:.]+\s+\d+ \w+\.cc:\d+\] .*'                 # TensorFlow's C++ log lines (no GPU, oneDNN, ...)
                      r'|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR'
                      r'|To enable the following instructions: .*, in other operations, rebuild TensorFlow with the appropriate compiler flags\.'   # the second line of TensorFlow's CPU notice
                      r'|WARNING:tensorflow:\d+ out of the last \d+ calls to .* triggered tf\.function retracing\..*)\n?', re.M)
MACHINE_PATH_RE = re.compile(r'(?<![\w.~$])(/work/|/root/|/tmp/|/home/)')


def is_tqdm(text): return bool(TQDM_RE.search(text)) and ('\r' in text or 'it/s' in text or 's/it' in text)


def fix_paths(text):
    for rx, rep in PATH_RULES: text = rx.sub(rep, text)
    return text


def _join(v): return ''.join(v) if isinstance(v, list) else v


def _lines(s):
    "nbformat's on-disk form: a list of lines keeping their newlines."
    return s.splitlines(keepends=True)


def shrink_png(b64):
    "(mime, data) for a PNG output: scaled to MAX_WIDTH, as JPEG when photographic and smaller; None if unchanged."
    from PIL import Image
    raw = base64.b64decode(b64)
    im = Image.open(io.BytesIO(raw)); im.load()
    changed = False
    if im.width > MAX_WIDTH:
        im = im.resize((MAX_WIDTH, round(im.height*MAX_WIDTH/im.width)), Image.LANCZOS); changed = True
    rgb = im.convert('RGB') if im.mode != 'RGB' else im
    small = rgb.resize((min(rgb.width, 400), max(1, round(rgb.height*min(rgb.width, 400)/rgb.width))))
    colours = small.getcolors(maxcolors=PHOTO_COLOURS)
    opaque = im.mode not in ('RGBA', 'LA', 'P') or im.convert('RGBA').getextrema()[3][0] == 255
    if colours is None and opaque:  # photographic: JPEG
        out = io.BytesIO(); rgb.save(out, 'JPEG', quality=JPEG_QUALITY, optimize=True)
        if out.tell() < len(raw)*0.8 or changed: return 'image/jpeg', base64.b64encode(out.getvalue()).decode()
    if changed:
        out = io.BytesIO(); im.save(out, 'PNG', optimize=True)
        return 'image/png', base64.b64encode(out.getvalue()).decode()
    return None


def tidy_output(o):
    "A tidied copy of one output, or None to drop it."
    if o.get('output_type') == 'stream':
        text = NOISE_RE.sub('', _join(o.get('text', '')))
        if not text: return None
        if o.get('name') == 'stderr':
            if is_tqdm(text): return None
            text = WARNING_RE.sub('', text)
            if not text.strip(): return None
        return {**o, 'text': _lines(fix_paths(text))}
    if 'data' in o:
        data = {}
        for mime, v in o['data'].items():
            if mime == 'image/png':
                res = shrink_png(_join(v))
                if res:
                    data[res[0]] = res[1] + ('\n' if isinstance(v, str) and v.endswith('\n') else '')
                    continue
            if mime.startswith('text/') or mime in ('application/json',):
                v = _lines(fix_paths(_join(v))) if isinstance(v, (list, str)) else v
            data[mime] = v
        md = o.get('metadata', {})
        if 'image/png' in md and 'image/jpeg' in data and 'image/png' not in data:
            md = {**md, 'image/jpeg': md['image/png']}; md.pop('image/png')
        return {**o, 'data': data, **({'metadata': md} if 'metadata' in o else {})}
    return o


def coalesce(outputs):
    "Consecutive stream outputs of the same stream joined into one, as Jupyter shows them."
    out = []
    for o in outputs:
        if out and o.get('output_type') == 'stream' and out[-1].get('output_type') == 'stream' and out[-1].get('name') == o.get('name'):
            out[-1] = {**out[-1], 'text': _lines(_join(out[-1]['text']) + _join(o['text']))}
        else: out.append(o)
    return out


def tidy(nb):
    for c in nb['cells']:
        if c.get('cell_type') != 'code': continue
        c['outputs'] = coalesce([t for t in (tidy_output(o) for o in c.get('outputs', [])) if t is not None])
    return nb


def dumps(nb):
    "Write as nbdev_clean does: one-space indent, sorted keys, trailing newline."
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('notebooks', nargs='*', help='default: every notebook in nbs/')
    ap.add_argument('--check', action='store_true', help='change nothing; exit 1 if a notebook would change')
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or sorted(NBS.glob('*.ipynb'))
    changed = []
    for p in paths:
        before = p.read_text(encoding='utf-8')
        after = dumps(tidy(json.loads(before)))
        if after != before:
            changed.append(p)
            if not args.check: p.write_text(after, encoding='utf-8')
            print(f"{'would tidy' if args.check else 'tidied'} {p.name}: {len(before.encode())/1e6:.2f} MB -> "
                  f"{len(after.encode())/1e6:.2f} MB")
    return 1 if (args.check and changed) else 0


if __name__ == '__main__':
    sys.exit(main())
