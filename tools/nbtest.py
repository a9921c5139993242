"""Every notebook top to bottom in quick mode, as `nbdev_test` runs them, but each in a fresh process.

`nbdev_test` keeps its worker processes for the whole run, and their memory grows with every notebook they
execute: 5 GB held by its two workers after the chapters, on 2 cores (`benchmarks/test_suite.py`). Here each
notebook runs in a process of its own (nbdev's own `test_nb`, with the `tst_flags` of settings.ini skipped),
two at a time by default, the longest first (by the last measured times), and never two whose last peaks
together pass `--budget`: the peak is that of the heaviest pair that fits, not of all notebooks. One line per
notebook as it ends: pass or fail, its time and its process's peak memory. TensorFlow's start-up lines (no
CUDA driver, oneDNN) and its retracing notices are kept out of the output; a failing notebook's traceback is not.

    python tools/nbtest.py [--workers 2] [--budget 3.0] [--path GLOB] [--flags FLAGS]
"""
import argparse
import glob
import multiprocessing as mp
import os
import resource
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path


def _quiet_tensorflow():
    "Import TensorFlow with file descriptor 2 muted (it prints its start-up lines there before any setting can stop them), its Python log at errors only (retracing notices)."
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    from mask_detection.data import quiet_stderr
    with quiet_stderr(): import tensorflow
    tensorflow.get_logger().setLevel('ERROR')


def _run(fn:str, skip_flags:list, force_flags:list, basepath:str) -> tuple:
    "nbdev's test of one notebook in this (fresh) process: passed, seconds, peak resident GiB."
    mp.set_start_method(None, force=True)   # a spawned process inherits 'spawn' as its default; the notebooks' own pools get the platform's, as under nbdev_test
    _quiet_tensorflow()
    from nbdev.test import test_nb
    ok, secs = test_nb(Path(fn), skip_flags=skip_flags, force_flags=force_flags, basepath=basepath)
    return ok, secs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def notebooks(path:str=None) -> list:
    "The notebooks nbdev_test would run: those of `path` (a notebook, a folder or a glob; default: nbs/), as nbdev filters them."
    from nbdev.doclinks import nbglob
    from nbdev.test import _keep_file
    if path and any(c in path for c in '*?['): found = [Path(f) for f in glob.glob(path) if not Path(f).name.startswith(('_', '.'))]
    else: found = nbglob(path, as_path=True)
    return [f.absolute() for f in sorted(found) if _keep_file(f, '.notest')]


TIMES = Path(__file__).resolve().parent.parent/'benchmarks'/'test_suite_notebooks.csv'  # each notebook's last measured seconds (benchmarks/test_suite.py)

def last_run(times=TIMES) -> dict:
    "{notebook name: (seconds, peak GiB)} of the last measured run, or {} where there is none."
    import csv
    try:
        with open(times, newline='') as f: return {r['notebook']: (float(r['seconds']), float(r['peak_gib'])) for r in csv.DictReader(f)}
    except (OSError, KeyError, ValueError): return {}

def longest_first(files:list, last:dict) -> list:
    "`files` with the notebooks that took longest last time first (new ones before all), so that the longest does not start last."
    return sorted(files, key=lambda f: -last.get(f.name, (float('inf'), 0))[0])

def next_fitting(pending:list, running_peaks:list, last:dict, budget:float):
    "The first of `pending` whose last peak fits beside the running notebooks' within `budget` GiB (unknown notebooks count 1 GiB); None if none fits."
    used = sum(running_peaks)
    return next((f for f in pending if used + last.get(f.name, (0, 1.0))[1] <= budget), None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--workers', type=int, default=2, help='notebooks run at once')
    ap.add_argument('--path', default=None, help='a notebook name or glob (default: every notebook)')
    ap.add_argument('--flags', default='', help='test flags to run that settings.ini skips (e.g. slow)')
    ap.add_argument('--budget', type=float, default=3.0, help='GiB: a notebook waits while its last peak does not fit beside the running ones')
    args = ap.parse_args(argv)
    from nbdev.config import get_config
    cfg = get_config()
    skip, force = cfg.tst_flags.split(), args.flags.split()
    last = last_run()
    files = longest_first(notebooks(args.path), last)
    if not files: print('no notebooks to test'); return 1
    t0, failed, pending, running, done = time.monotonic(), [], list(files), {}, 0
    print(f'{len(files)} notebooks, {args.workers} at a time, each in a fresh process', flush=True)
    # spawn: a fresh interpreter per notebook (max_tasks_per_child=1), never a fork of a process holding TensorFlow
    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context('spawn'), max_tasks_per_child=1) as pool:
        while pending or running:
            while pending and len(running) < args.workers:
                f = next_fitting(pending, [pk for _, pk in running.values()], last, args.budget)
                if f is None and running: break          # wait until one ends
                f = f or pending[0]
                pending.remove(f)
                running[pool.submit(_run, str(f), skip, force, str(cfg.config_path))] = (f, last.get(f.name, (0, 1.0))[1])
            ended, _ = wait(running, return_when=FIRST_COMPLETED)
            for job in ended:
                f, _ = running.pop(job); done += 1
                try: ok, secs, peak = job.result()
                except Exception as e: ok, secs, peak = False, float('nan'), float('nan'); print(f'{f.name}: {e!r}', file=sys.stderr)
                if not ok: failed.append(f.name)
                print(f"[{done:2d}/{len(files)}] {'ok  ' if ok else 'FAIL'} {f.name:28s} {secs:5.0f} s  {peak:4.1f} GiB peak", flush=True)
    print(f'{len(files) - len(failed)} passed, {len(failed)} failed in {time.monotonic() - t0:.0f} s'
          + (': ' + ', '.join(failed) if failed else ''), flush=True)
    return 1 if failed else 0


if __name__ == '__main__': sys.exit(main())
