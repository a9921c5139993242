"""Training time and peak memory of the classifier the package ships, made as its documented command makes it.

Each seed runs `mask-detection train-classifier --out RUN --seed S --quiet` on the full data in a
process of its own, on an otherwise idle machine: wall time from start to exit (imports, reading the
853 photos and cutting the context crops included), peak resident set size from os.wait4, and from the
run's summary.json the training time alone, the epochs and the held-out scores. TensorFlow is held to
`--threads` threads (2: the course's reference machine). Results go to
mask_detection/classifier_training.csv (installed with the package), which chapter 14 shows.

    python benchmarks/classifier_training.py [--data DIR] [--seeds 0 1 2] [--threads 2]
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None, help='dataset folder (default: found as find_data does)')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', default=HERE.parent/'mask_detection'/'classifier_training.csv')
    a = ap.parse_args()
    cli = str(Path(sys.executable).parent/'mask-detection')
    env = {**os.environ, 'TF_NUM_INTRAOP_THREADS': str(a.threads), 'TF_NUM_INTEROP_THREADS': str(a.threads),
           'OMP_NUM_THREADS': str(a.threads), 'TF_CPP_MIN_LOG_LEVEL': '3'}
    rows = []
    for seed in a.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [cli, 'train-classifier', '--out', str(Path(tmp)/'run'), '--seed', str(seed), '--quiet']
            if a.data: cmd += ['--data', a.data]
            log = Path(tmp)/'out.txt'
            with open(log, 'w') as f:
                t0 = time.perf_counter()
                proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.DEVNULL)
                _, status, usage = os.wait4(proc.pid, 0)
                wall = time.perf_counter() - t0
            out = log.read_text()
            if os.waitstatus_to_exitcode(status) != 0: raise SystemExit(f"seed {seed}: train-classifier failed\n{out}")
            summary = json.loads((Path(tmp)/'run'/'summary.json').read_text())
        line = out.strip().splitlines()[-1]
        found = re.search(r'accuracy ([\d.]+) \(three classes\), ([\d.]+) with vs without a mask, F1 without_mask ([\d.]+)', line)
        if not found: raise SystemExit(f"seed {seed}: unexpected output {line!r}")
        rows.append(dict(seed=seed, epochs=summary['epochs'], best_epoch=summary['best_epoch'],
                         train_minutes=round(summary['seconds'] / 60, 2), command_minutes=round(wall / 60, 2),
                         peak_gb=round(usage.ru_maxrss * 1024 / 1e9, 2),   # ru_maxrss is in KiB on Linux
                         accuracy_3=float(found[1]), accuracy_2=float(found[2]), f1_without_mask=float(found[3]),
                         threads=a.threads, cpus=os.cpu_count(), machine=platform.processor() or platform.machine()))
        print(rows[-1], flush=True)
    res = pd.DataFrame(rows)
    res.to_csv(a.out, index=False)
    print(res.to_string(index=False))


if __name__ == '__main__':
    main()
