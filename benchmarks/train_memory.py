"""Peak memory of training the second model on the full data: the report's in-memory float64
arrays versus the course's streamed uint8 pipeline.

Each way runs in its own process; the peak resident set size (ru_maxrss) of that process comes
from os.wait4. Results go to mask_detection/train_memory.csv (installed with the package), which chapter 9.1.3 shows.

    python benchmarks/train_memory.py [--prepared DIR] [--steps N]

DIR is the output of `mask-detection prepare` on the full data (made if missing).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

REPORT_STYLE = r'''
import sys, numpy as np, cv2, keras
from mask_detection.pipeline import load_split, split_table
from mask_detection.models import cnn2
from mask_detection.train import compile_model
folder, steps = sys.argv[1], int(sys.argv[2])
table = load_split(f"{folder}/split.csv")
def arrays(split):  # chapter 8 of the report: cv2.imread each crop, np.array, then / 255 (float64)
    rows = split_table(table, split)
    X = np.array([cv2.cvtColor(cv2.imread(f"{folder}/crops/{p}"), cv2.COLOR_BGR2RGB) for p in rows.file])
    return X / 255, rows.label_id.to_numpy().reshape(-1, 1)
(Xtr, ytr), (Xdev, ydev), (Xte, yte) = arrays('train'), arrays('dev'), arrays('test')
m = compile_model(keras.Sequential([keras.Input((256, 256, 3)), *cnn2().layers[1:]]))  # no Rescaling: inputs already / 255
m.fit(Xtr, ytr, batch_size=32, epochs=1, steps_per_epoch=steps, validation_data=(Xdev, ydev), verbose=2)
'''


def peak_rss(cmd, env=None):
    "Run a command; return (seconds, peak resident memory in GB) of its process tree's largest process."
    t0 = time.time()
    p = subprocess.Popen(cmd, env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', **(env or {})})
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0: raise SystemExit(f"{cmd[:3]} failed with status {status}")
    return time.time() - t0, usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--prepared', type=Path, default=Path.home()/'.cache'/'mask_detection'/'prepared-full')
    ap.add_argument('--steps', type=int, default=20, help="training steps of the report-style run (its arrays dominate)")
    args = ap.parse_args()
    cli = str(Path(sys.executable).parent/'mask-detection')
    if not (args.prepared/'split.csv').is_file():
        subprocess.run([cli, 'prepare', '--out', str(args.prepared), '--quiet'], check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        secs, gb = peak_rss([cli, 'train', '--model', 'cnn2', '--data', str(args.prepared), '--out', tmp])
        epochs = len(pd.read_csv(Path(tmp)/'history.csv'))
        rows.append(dict(method='uint8 tf.data stream (this course), full run', epochs=epochs, steps=epochs * 99, seconds=round(secs), peak_rss_gb=round(gb, 2)))
    secs, gb = peak_rss([sys.executable, '-c', REPORT_STYLE, str(args.prepared), str(args.steps)])
    rows.append(dict(method=f"float64 arrays / 255 (the report), first {args.steps} steps", epochs=1, steps=args.steps, seconds=round(secs), peak_rss_gb=round(gb, 2)))
    res = pd.DataFrame(rows)
    res['ratio_to_stream'] = (res.peak_rss_gb / res.peak_rss_gb.iloc[0]).round(2)
    res.to_csv(HERE.parent/'mask_detection'/'train_memory.csv', index=False)
    print(res.to_string(index=False))


if __name__ == '__main__':
    main()
