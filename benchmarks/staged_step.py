"""Can the third model train within 12 GB on a CPU? Keras' training step and checkpoint against the course's lean mode, by peak memory.

The third model (`2CNN-1FC_Simple`, 520,244,417 weights; 520,224,896 of them in its first dense layer) at the report's
settings (Adam at 0.001, batch 32, 256 pixels), a few steps on one random batch, then one checkpoint of the weights and
the optimizer's state, in a fresh process per variant and TensorFlow's default allocator; a thread samples the resident
memory every 50 ms, and the phase it is in:

- `keras`: `compile_model(model)`, Keras' Adam and Keras' own step (every gradient is computed, then Adam updates every
  weight, with temporaries as large as the 2.08 GB dense kernel), and the checkpoint as version 0.2 wrote it,
  `save_weights` to `last.weights.h5` (each variable copied to a NumPy array on the way);
- `lean`: `compile_model(model, lean=True)`, what `train_model` runs for models over 100M parameters: `InPlaceAdam` (the
  same update by TensorFlow's fused kernel, in place) and `staged_train_step` (the dense head's gradient applied and freed
  before the convolutions' backward pass), and the run's TensorFlow checkpoint of the same variables, written from them.

Results go to mask_detection/staged_step.csv (chapter 16 shows them).

    python benchmarks/staged_step.py [--steps 4]
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from prepare_speed import machine   # the same machine line as the other benchmarks (this script's folder is on sys.path)

HERE = Path(__file__).resolve().parent

PROBE = r'''
import json, sys, tempfile, threading, time
import psutil
proc, samples, phase = psutil.Process(), [], ['start']
def sample():
    while True: samples.append((phase[0], proc.memory_info().rss / 1e9)); time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
import numpy as np, tensorflow as tf, keras
from mask_detection.models import build
from mask_detection.train import compile_model, _weights_checkpoint
variant, steps = sys.argv[1], int(sys.argv[2])
keras.utils.set_random_seed(0)
model = compile_model(build('cnn3'), lean=(variant == 'lean'))
model.optimizer.build(model.trainable_variables)
rng = np.random.default_rng(0)
x = tf.constant(rng.integers(0, 256, (32, 256, 256, 3), dtype=np.uint8))
y = tf.constant(rng.integers(0, 2, (32, 1)).astype('float32'))
times = []
phase[0] = 'step'
for t in range(steps):
    t0 = time.time(); model.train_on_batch(x, y); times.append(time.time() - t0)
phase[0] = 'checkpoint'
with tempfile.TemporaryDirectory(dir='.') as d:
    t0 = time.time()
    if variant == 'lean': _weights_checkpoint(model, optimizer=True).write(f'{d}/epoch-1')
    else: model.save_weights(f'{d}/last.weights.h5')
    ckpt_seconds = time.time() - t0
phase[0] = 'end'; time.sleep(0.2)
peak = lambda p: max(v for q, v in samples if q == p)
print(json.dumps(dict(params=model.count_params(), built_gb=round(peak('start'), 2), step_gb=round(peak('step'), 2),
                      checkpoint_gb=round(peak('checkpoint'), 2), peak_gb=round(max(v for _, v in samples), 2),
                      step_seconds=round(float(np.median(times[1:])), 2), checkpoint_seconds=round(ckpt_seconds, 1))))
'''


def probe(variant:str, steps:int) -> dict:
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}
    r = subprocess.run([sys.executable, '-c', PROBE, variant, str(steps)], capture_output=True, text=True, env=env)
    if r.returncode: raise SystemExit(f"{variant}: failed\n{r.stderr[-2000:]}")
    return dict(variant=variant, steps=steps, **json.loads(r.stdout.strip().splitlines()[-1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--steps', type=int, default=4, help='training steps per variant (the first is not timed)')
    args = ap.parse_args()
    rows = pd.DataFrame([probe(v, args.steps) for v in ('keras', 'lean')])
    base = rows.set_index('variant').loc['keras']
    rows['peak_vs_keras'] = (rows.peak_gb / base.peak_gb).round(2)
    rows['step_time_vs_keras'] = (rows.step_seconds / base.step_seconds).round(2)
    rows['machine'] = machine()
    out = HERE.parent/'mask_detection'/'staged_step.csv'
    rows.to_csv(out, index=False)
    print(rows.to_string(index=False)); print(f"-> {out}")


if __name__ == '__main__':
    main()
