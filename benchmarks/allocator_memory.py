"""Where the third model's training memory goes, and what TensorFlow's allocator setting costs and saves.

The third model (`2CNN-1FC_Simple`, 520,244,417 weights) at the report's settings (Adam, batch 32, 256 pixels) is
trained for a few steps per epoch (two epochs, so that a checkpoint is written and training goes on after it) in a
fresh process per variant. A sampling thread records the process's resident memory every 50 ms and which phase
training is in (building, a training step, evaluation, the checkpoint written at the epoch's end). Variants:

- `pooled`: TensorFlow's defaults on x86 (oneDNN kernels, large blocks kept in oneDNN's own memory pool);
- `system`: the same kernels, large blocks from the system allocator (`TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1`, set in
  the environment before TensorFlow starts; the course leaves it unset);
- `eigen`: oneDNN off (`TF_ENABLE_ONEDNN_OPTS=0`), TensorFlow's Eigen kernels.

Every variant trains with Keras' own step (`lean=False`): this is the allocator question for that step. The committed
results were measured with version 0.2, whose checkpoint was `last.weights.h5`; the lean mode `train_model` now uses for
this model, and its TensorFlow checkpoint, are measured by `staged_step.py`.

The second model is probed under both allocators too, for the time per step a smaller model pays. With `--full`, the course's `train` command also runs the full third-model run with the system allocator and its peak
(`ru_maxrss`) is added. Results go to mask_detection/allocator_memory.csv (installed with the package; chapter 9.1.3 and
the benchmarks page show it).

    python benchmarks/allocator_memory.py [--prepared DIR] [--faces 96] [--full | --full-log LOG RUN_DIR]

`--full-log` reads a full run made apart instead (tens of minutes on 2 cores, so it can run while other work waits):
the output of `TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1 /usr/bin/time -v mask-detection train --model cnn3 --prepared DIR
--out RUN_DIR` and that run's folder.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
VARIANTS = {'pooled': {'TF_ONEDNN_USE_SYSTEM_ALLOCATOR': '0'},
            'system': {'TF_ONEDNN_USE_SYSTEM_ALLOCATOR': '1'},
            'eigen': {'TF_ONEDNN_USE_SYSTEM_ALLOCATOR': '1', 'TF_ENABLE_ONEDNN_OPTS': '0'}}

PROBE = r'''
import json, sys, threading, time
import psutil
proc, samples, phase = psutil.Process(), [], ['import']
def sample():
    while True: samples.append((proc.memory_info().rss / 1e9, phase[0])); time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
from dataclasses import replace
import keras
from mask_detection.pipeline import load_split
from mask_detection.models import model_spec
from mask_detection.train import train_model
folder, faces, out, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
steps = []
class Phase(keras.callbacks.Callback):
    def on_train_batch_begin(self, b, logs=None): phase[0] = 'train step'; self.t = time.time()
    def on_train_batch_end(self, b, logs=None): steps.append(time.time() - self.t)
    def on_test_batch_begin(self, b, logs=None): phase[0] = 'evaluation'
    def on_epoch_end(self, e, logs=None): phase[0] = 'after epoch'
phase[0] = 'build'
cfg = replace(model_spec(name).config, epochs=2, patience=5, limit=faces)
from mask_detection import train as T
_orig = T.RunCheckpoint.on_epoch_end
def on_epoch_end(self, epoch, logs=None): phase[0] = 'checkpoint'; _orig(self, epoch, logs)
T.RunCheckpoint.on_epoch_end = on_epoch_end
t0 = time.time()
train_model(name, load_split(f'{folder}/split.csv'), f'{folder}/crops', out, cfg, extra_callbacks=[Phase()], verbose=0, lean=False)
phase[0] = 'done'; time.sleep(0.2)
peak = {}
for r, p in samples: peak[p] = max(peak.get(p, 0), r)
print(json.dumps(dict(seconds=time.time() - t0, step=sorted(steps[1:])[len(steps[1:]) // 2], peak={k: round(v, 2) for k, v in peak.items()})))
'''


def probe(variant, prepared, faces, model='cnn3'):
    "Peaks by phase of one variant, in its own process."
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', **VARIANTS[variant]}
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, '-c', PROBE, str(prepared), str(faces), tmp, model], env=env, check=True,
                             capture_output=True, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    p = res['peak']
    return dict(model=model, variant=variant, run=f'{faces} faces per split, 2 epochs', state_gb=p['build'], train_step_gb=p['train step'],
                checkpoint_gb=p['checkpoint'], peak_gb=max(p.values()), step_seconds=round(res['step'], 1), seconds=round(res['seconds']))


def full_run(prepared):
    "The course's `train` command, full data, system allocator: (peak GB, epochs, seconds, False)."
    cli = str(Path(sys.executable).parent/'mask-detection')
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', **VARIANTS['system']}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        p = subprocess.Popen([cli, 'train', '--model', 'cnn3', '--prepared', str(prepared), '--out', tmp, '--quiet'], env=env)
        _, status, usage = os.wait4(p.pid, 0)
        if status: raise SystemExit(f"train failed with status {status}")
        return usage.ru_maxrss * 1024 / 1e9, len(pd.read_csv(Path(tmp)/'history.csv')), time.time() - t0, False


def full_from_log(log:Path, run_dir:Path):
    "(peak GB, epochs, seconds, stopped early) of a full run from its `/usr/bin/time -v` output and its run folder."
    text = log.read_text(errors='replace')
    kb = int(text.split('Maximum resident set size (kbytes):')[1].split()[0])
    wall = text.split('Elapsed (wall clock) time (h:mm:ss or m:ss):')[1].split()[0].split(':')
    secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
    stopped = 'terminated by signal' in text
    return kb / 1e6, len(pd.read_csv(run_dir/'history.csv')), secs, stopped


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--prepared', type=Path, default=Path.home()/'.cache'/'mask_detection'/'prepared-full')
    ap.add_argument('--faces', type=int, default=96, help="faces per split in the probes (3 steps of 32)")
    ap.add_argument('--full', action='store_true', help="also time the full run (tens of minutes on 2 cores)")
    ap.add_argument('--full-log', nargs=2, type=Path, metavar=('LOG', 'RUN_DIR'), help="read a full run made apart")
    args = ap.parse_args()
    if not (args.prepared/'split.csv').is_file():
        subprocess.run([str(Path(sys.executable).parent/'mask-detection'), 'prepare', '--out', str(args.prepared), '--quiet'], check=True)
    rows = [probe(v, args.prepared, args.faces) for v in VARIANTS] + [probe(v, args.prepared, args.faces, 'cnn2') for v in ('pooled', 'system')]
    if args.full or args.full_log:
        gb, epochs, secs, stopped = full_from_log(*args.full_log) if args.full_log else full_run(args.prepared)
        run = f"full data, stopped after {epochs} epoch(s) and their checkpoint" if stopped else f"full run, {epochs} epochs"
        rows.append(dict(model='cnn3', variant='system', run=run, peak_gb=round(gb, 2), seconds=round(secs)))
    res = pd.DataFrame(rows)
    pooled = res[res.variant.eq('pooled')].set_index('model')
    res['peak_vs_pooled'] = (res.peak_gb / res.model.map(pooled.peak_gb)).round(2)
    res['step_time_vs_pooled'] = (res.step_seconds / res.model.map(pooled.step_seconds)).round(2)
    res.to_csv(HERE.parent/'mask_detection'/'allocator_memory.csv', index=False)
    print(res.to_string(index=False))


if __name__ == '__main__':
    main()
