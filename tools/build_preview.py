#!/usr/bin/env python
"""Build a local HTML preview of the course site, without Quarto.

    python tools/build_preview.py OUTDIR

1. Process the chapter notebooks (`index.ipynb` and the numbered ones in `nbs/`) with
   nbdev 2's docs processor, the one `nbdev_proc_nbs` runs (`nbdev.serve_drv.main` with
   `FilterDefaults`: frontmatter, `#| hide`, `show_doc`, ...). The processed notebooks go
   to `OUTDIR/_proc/`. We call the processor directly rather than the `nbdev_proc_nbs`
   command because the command also rewrites `nbs/nbdev.yml` and
   `mask_detection/_modidx.py` and tries to download Quarto. A notebook the processor
   fails on is copied unprocessed (with a warning), as is every notebook if nbdev
   cannot be imported.
   Like `nbdev_docs`, the processor executes export cells, `show_doc` cells and every
   cell containing an import, which is why the chapters keep their imports in cells of
   their own; the rendered outputs are the notebook's saved ones.
2. Convert each processed notebook to `OUTDIR/<name>.html` with nbconvert's
   `HTMLExporter` (image outputs are embedded as data URIs, markdown images too).
3. Rewrite relative links `X.ipynb` to `X.html` (Quarto would name the pages after the
   frontmatter's `output-file` instead), honour `#| echo: false`, and add a chapter
   navigation bar (index first, then by file name; link texts from `nbs/sidebar.yml`,
   else the chapter's title), and include the site's `nbs/styles.css`, as Quarto does.
   `index.ipynb` becomes `OUTDIR/index.html`; `preview.json` lists the pages and which
   notebooks nbdev processed.

Exit status 0 when every chapter was converted; 1 otherwise.
"""
import argparse
import html
import json
import os
import re
import shutil
import sys
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
CHAPTER_RE = re.compile(r'^(index|\d\d[a-z]?_[\w-]+)\.ipynb$')
# relative href to a notebook: not a scheme (http:, https:, mailto:), not absolute, not a bare anchor
HREF_RE = re.compile(r'''href=(["'])(?![a-zA-Z][\w+.-]*:|/|#)([^"'#?]*?)\.ipynb([#?][^"']*)?\1''')

NAV_CSS = """
<style>
  nav.preview-nav { font: 14px/1.4 system-ui, sans-serif; padding: 8px 16px; margin: 0 0 16px;
    border-bottom: 1px solid #ccc; background: #f7f7f9; }
  nav.preview-nav a { margin-right: 12px; white-space: nowrap; }
  nav.preview-nav a.current { font-weight: bold; text-decoration: none; color: #000; }
  .preview-header { padding: 0 16px; }
  .preview-header p.description { color: #555; font-size: 1.1em; }
</style>
"""


def chapters(nbs=NBS):
    return sorted((p for p in nbs.glob('*.ipynb') if CHAPTER_RE.match(p.name)),
                  key=lambda p: (p.name != 'index.ipynb', p.name))


def sidebar_titles(nbs=NBS):
    "Ordered {notebook: link text} from sidebar.yml (no YAML dependency needed)."
    res, p = {}, nbs/'sidebar.yml'
    if not p.exists(): return res
    text = None
    for line in p.read_text(encoding='utf-8').splitlines():
        s = line.strip().lstrip('- ').strip()
        m = re.match(r'''text:\s*["']?(.*?)["']?$''', s)
        if m: text = m.group(1); continue
        m = re.match(r'''href:\s*["']?(.*?\.ipynb)["']?$''', s)
        if m: res[m.group(1)] = text; text = None; continue
        m = re.match(r'''^["']?([\w-]+\.ipynb)["']?$''', s)
        if m: res.setdefault(m.group(1), None)
    return res


def process(srcs, proc_dir):
    "Run nbdev's docs processor on each notebook; copy unprocessed where it fails."
    proc_dir.mkdir(parents=True, exist_ok=True)
    ok, failed = [], []
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    try:
        os.chdir(ROOT)  # nbdev finds settings.ini from the working directory
        from nbdev.processors import FilterDefaults
        from nbdev.serve_drv import main as proc_one
    except Exception as e:
        print(f'build_preview: nbdev processor unavailable ({e!r}); copying notebooks unprocessed', file=sys.stderr)
        proc_one = None
    for src in srcs:
        dst = proc_dir/src.name
        if proc_one is not None:
            try:
                with warnings.catch_warnings(record=True) as ws:
                    warnings.simplefilter('always')
                    proc_one((src, dst, FilterDefaults))
                mixed = [w for w in ws if 'imports and other code' in str(w.message)]
                if mixed:  # nbdev executes such cells while rendering the docs: worth knowing
                    firsts = [str(w.message).split('---')[1].strip().splitlines()[0][:60] for w in mixed]
                    print(f'build_preview: {src.name}: nbdev ran {len(mixed)} cell(s) mixing imports and code '
                          f'while processing: ' + '; '.join(map(repr, firsts)), file=sys.stderr)
                ok.append(src.name)
                continue
            except Exception as e:
                os.environ.pop('IN_TEST', None)
                cause = e.__cause__ or e.__context__
                print(f'build_preview: nbdev processor failed on {src.name}; copying it unprocessed:\n  '
                      + ''.join(traceback.format_exception_only(type(e), e)).strip()
                      + (f'\n  caused by: {cause!r}' if cause else ''), file=sys.stderr)
        shutil.copy2(src, dst)
        failed.append(src.name)
    return ok, failed


def frontmatter(nb):
    "Title and description: the processed notebook's YAML raw cell, else its first `# heading`."
    import yaml
    for c in nb.cells:
        if c.cell_type == 'raw' and c.source.strip().startswith('---'):
            m = re.match(r'^---\s*\n(.*?)\n---', c.source.strip(), re.S)
            if m:
                try: d = yaml.safe_load(m.group(1)) or {}
                except Exception: d = {}
                if isinstance(d, dict) and d.get('title'): return d, True
    for c in nb.cells:
        if c.cell_type == 'markdown':
            m = re.search(r'^#\s+(.+)$', c.source, re.M)
            if m:
                d = re.search(r'^>\s*(.+)$', c.source, re.M)
                return {'title': m.group(1).strip(), 'description': d.group(1).strip() if d else ''}, False
    return {}, False


def rewrite_links(body):
    return HREF_RE.sub(lambda m: f'href={m[1]}{m[2]}.html{m[3] or ""}{m[1]}', body)


def nav_html(pages, current):
    links = [f'<a href="{html.escape(f)}"{" class=current" if f == current else ""}>{html.escape(t)}</a>'
             for f, t in pages]
    return f'<nav class="preview-nav">{" ".join(links)}</nav>'


DIRECTIVE_RE = re.compile(r'^\s*#\|\s*([\w-]+):?\s*(.*?)\s*$')
PANDOC_ATTR_RE = re.compile(r'(\]\([^)]*\))\{[^}\n]*\}')


def quartoish(nb):
    "What Quarto would do with nbdev's output: honour `#| echo: false`, drop `#|` lines, pandoc link attributes."
    for c in nb.cells:
        if c.cell_type != 'code': continue
        lines, dirs = c.source.splitlines(), {}
        while lines and DIRECTIVE_RE.match(lines[0]):
            m = DIRECTIVE_RE.match(lines.pop(0)); dirs[m[1]] = m[2].lower()
        c.source = '\n'.join(lines)
        if dirs.get('echo') == 'false' or not c.source.strip():
            c.metadata.setdefault('tags', []).append('remove_input')
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown')
            if md: o['data']['text/markdown'] = PANDOC_ATTR_RE.sub(r'\1', md if isinstance(md, str) else ''.join(md))


def convert(proc_nb, out_dir, nav_pages):
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    nb = nbformat.read(proc_nb, as_version=4)
    fm, from_yaml = frontmatter(nb)
    title = str(fm.get('title') or proc_nb.stem)
    if from_yaml:  # the processor moved the `# Title` / `> description` cell into YAML: drop it, show a header
        nb.cells = [c for c in nb.cells if not (c.cell_type == 'raw' and c.source.strip().startswith('---'))]
    quartoish(nb)
    exp = HTMLExporter(template_name='lab', embed_images=True, exclude_input_prompt=True,
                       exclude_output_prompt=True)
    exp.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}), enabled=True)
    body, _ = exp.from_notebook_node(nb, resources={'metadata': {'name': title}})
    body = rewrite_links(body)
    out_name = proc_nb.stem + '.html'
    header = ''
    if from_yaml:
        desc = fm.get('description') or ''
        header = (f'<header class="preview-header"><h1 class="title">{html.escape(title)}</h1>'
                  + (f'<p class="description">{html.escape(str(desc))}</p>' if desc else '') + '</header>')
    site_css = (NBS/'styles.css').read_text(encoding='utf-8') if (NBS/'styles.css').exists() else ''
    body = body.replace('</head>', NAV_CSS + f'<style>\n{site_css}\n</style>\n' + '</head>', 1)   # the site's own styles.css, as Quarto adds it
    body = re.sub(r'(<body[^>]*>)', lambda m: m[1] + nav_html(nav_pages, out_name) + header, body, count=1)
    (out_dir/out_name).write_text(body, encoding='utf-8')
    return out_name, title


def build(out_dir, nbs=NBS):
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    srcs = chapters(nbs)
    if not srcs: raise SystemExit(f'build_preview: no chapter notebooks in {nbs}')
    processed, unprocessed = process(srcs, out_dir/'_proc')
    side = sidebar_titles(nbs)
    order = [s.name for s in srcs]  # index first, then by file name

    def nav_title(n):
        if n == 'index.ipynb': return 'Home'
        if side.get(n): return side[n]
        try:
            import nbformat
            return str(frontmatter(nbformat.read(out_dir/'_proc'/n, as_version=4))[0].get('title') or Path(n).stem)
        except Exception: return Path(n).stem
    nav = [(Path(n).stem + '.html', nav_title(n)) for n in order]
    pages, errors = [], []
    for n in order:
        try: pages.append(convert(out_dir/'_proc'/n, out_dir, nav))
        except Exception as e:
            errors.append(n)
            print(f'build_preview: conversion of {n} failed: {e!r}', file=sys.stderr)
    manifest = {'pages': [{'file': f, 'title': t} for f, t in pages],
                'processed': processed, 'unprocessed': unprocessed, 'failed': errors}
    (out_dir/'preview.json').write_text(json.dumps(manifest, indent=1), encoding='utf-8')
    print(f'build_preview: {len(pages)} pages in {out_dir} '
          f'({len(processed)} processed by nbdev, {len(unprocessed)} copied unprocessed, {len(errors)} failed)')
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('outdir', help='folder for the HTML pages (created if missing)')
    args = ap.parse_args(argv)
    m = build(args.outdir)
    return 1 if m['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
