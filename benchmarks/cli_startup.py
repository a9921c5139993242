"""Start-up of the `mask-detection` command: `--help`, a usage error and `detect --help`, each in a new Python process,
for this checkout and, with `--before DIR`, for another checkout of the package (an earlier version) run the same way.

The versions alternate over `--repeats` rounds and the median is kept, so a busy machine slows both alike. Results go to
mask_detection/cli_startup.csv, installed with the package (version, what, median seconds, ratio to this checkout).

    python benchmarks/cli_startup.py [--before DIR] [--repeats 7]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CASES = {'--help': ['--help'], 'usage error': ['detect'], 'detect --help': ['detect', '--help']}
# each checkout runs its own code: PYTHONPATH names it, the process starts outside any checkout, and an editable install's finder is set aside
RUN = ("import sys\nsys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in type(f).__name__.lower()]\n"
       "import mask_detection\nprint(mask_detection.__file__, file=sys.stderr)\n"
       "from mask_detection.cli import main\ntry: main(sys.argv[1:])\nexcept SystemExit: pass")


def seconds(checkout:Path, args:list) -> float:
    env = {**os.environ, 'PYTHONPATH': str(checkout), 'TF_CPP_MIN_LOG_LEVEL': '3'}
    t = time.perf_counter()
    r = subprocess.run([sys.executable, '-c', RUN, *args], env=env, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())
    assert r.stderr.startswith(str(checkout)), f'{checkout}: another copy of the package ran ({r.stderr[:200]})'
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--before', type=Path, help='a checkout of an earlier version of the package')
    p.add_argument('--repeats', type=int, default=7)
    a = p.parse_args()
    versions = {'this checkout': ROOT, **({'before': a.before.resolve()} if a.before else {})}
    times = {(v, c): [] for v in versions for c in CASES}
    for _ in range(a.repeats):
        for c, args in CASES.items():
            for v, path in versions.items(): times[v, c].append(seconds(path, args))
    rows = [dict(version=v, what=c, median_s=round(statistics.median(t), 3)) for (v, c), t in times.items()]
    t = pd.DataFrame(rows)
    now = t[t.version == 'this checkout'].set_index('what').median_s
    t['ratio_to_this_checkout'] = (t.median_s / t.what.map(now)).round(2)
    t.to_csv(ROOT/'mask_detection'/'cli_startup.csv', index=False)
    print(t.to_string(index=False))


if __name__ == '__main__':
    main()
