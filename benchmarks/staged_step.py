"""Can the third model train within 12 GB on a CPU? Keras' own training step against a staged one, by peak memory.

The third model (`2CNN-1FC_Simple`, 520,244,417 weights; 520,224,896 of them in its first dense layer) at the report's
settings (Adam at 0.001, batch 32, 256 pixels), a few steps on one random batch, in a fresh process per variant and
TensorFlow's default allocator; a thread samples the resident memory every 50 ms:

- `keras`: `compile(Adam)` and `train_on_batch`, the step `train_model` runs: every gradient is computed, then Adam
  updates every weight, with temporaries as large as the dense kernel (2.08 GB);
- `staged`: the dense head's gradient first, applied at once in place by TensorFlow's fused Adam kernel
  (`ResourceApplyAdam`, the same update rule) and freed, then the convolutions' gradient from the head's input
  gradient (run eagerly, one op after the other).

No checkpoint is written: this measures the training step only (chapter 9.1.3 shows the checkpoint's share).
Results go to mask_detection/staged_step.csv.

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
import json, sys, threading, time
import psutil
proc, samples = psutil.Process(), []
def sample():
    while True: samples.append(proc.memory_info().rss / 1e9); time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
import numpy as np, tensorflow as tf, keras
from mask_detection.models import build
variant, steps = sys.argv[1], int(sys.argv[2])
keras.utils.set_random_seed(0)
model = build('cnn3')
rng = np.random.default_rng(0)
x = tf.constant(rng.integers(0, 256, (32, 256, 256, 3), dtype=np.uint8))
y = tf.constant(rng.integers(0, 2, (32, 1)).astype('float32'))
lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
times, built = [], max(samples)
if variant == 'keras':
    model.compile(optimizer=keras.optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps), loss='binary_crossentropy')
    model.optimizer.build(model.trainable_variables)
    built = max(samples)
    for t in range(steps):
        t0 = time.time(); model.train_on_batch(x, y); times.append(time.time() - t0)
else:
    feat, head = model.layers[:-2], model.layers[-2:]
    weights = lambda layers: [v for l in layers for v in l.trainable_weights]
    fvars, hvars = weights(feat), weights(head)
    moments = {id(v): (tf.Variable(tf.zeros(v.shape)), tf.Variable(tf.zeros(v.shape))) for v in fvars + hvars}
    built = max(samples)
    def adam(vs, gs, t):
        for v, g in zip(vs, gs):
            m, s = moments[id(v)]
            tf.raw_ops.ResourceApplyAdam(var=v.value.handle, m=m.handle, v=s.handle, beta1_power=b1 ** t, beta2_power=b2 ** t,
                                         lr=lr, beta1=b1, beta2=b2, epsilon=eps, grad=g, use_locking=False)
    for t in range(1, steps + 1):
        t0 = time.time()
        with tf.GradientTape() as conv_tape:
            h = tf.cast(x, 'float32')
            for l in feat: h = l(h, training=True)
        with tf.GradientTape() as head_tape:
            head_tape.watch(h); z = h
            for l in head: z = l(z, training=True)
            loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, z))
        *gh, gin = head_tape.gradient(loss, hvars + [h]); del head_tape, z
        adam(hvars, gh, t); del gh
        gc = conv_tape.gradient(h, fvars, output_gradients=gin); del conv_tape, h, gin
        adam(fvars, gc, t); del gc
        times.append(time.time() - t0)
time.sleep(0.2)
print(json.dumps(dict(params=model.count_params(), built_gb=round(built, 2), peak_gb=round(max(samples), 2),
                      step_seconds=round(float(np.median(times[1:])), 2))))
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
    rows = pd.DataFrame([probe(v, args.steps) for v in ('keras', 'staged')])
    base = rows.set_index('variant').loc['keras']
    rows['peak_vs_keras'] = (rows.peak_gb / base.peak_gb).round(2)
    rows['step_time_vs_keras'] = (rows.step_seconds / base.step_seconds).round(2)
    rows['machine'] = machine()
    out = HERE.parent/'mask_detection'/'staged_step.csv'
    rows.to_csv(out, index=False)
    print(rows.to_string(index=False)); print(f"-> {out}")


if __name__ == '__main__':
    main()
