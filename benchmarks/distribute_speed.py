"""Training throughput (faces/s) of one model on one device and mirrored over several, with `tf.distribute`.

Each setting runs in a fresh Python, because logical devices must be set before TensorFlow starts:
- `one`: TensorFlow's default strategy (what `pick_strategy` gives on one device);
- `mirrored-1`: `MirroredStrategy` over one device (the cost of the strategy itself);
- `mirrored-2`: `MirroredStrategy` over two devices: two logical CPU devices carved out of the same
  CPU, or two GPUs when the machine has them (`--gpus`).
The per-replica batch is fixed (`--batch-size`), so the global batch doubles with two replicas, as in
`train_model`. Crops come from `mask-detection prepare` on the real dataset (`--prepared`); the first
epoch (tracing, cache filling) is not timed, the next `--epochs` are: faces/s = faces trained / seconds.
The settings run in turn, `--rounds` times; the median and the range are reported, because a shared
machine's speed drifts. Results go to mask_detection/distribute_speed.csv (installed with the package; the benchmarks page shows it), one block per machine and device.

    mask-detection prepare --out PREP --size 64
    python benchmarks/distribute_speed.py --prepared PREP [--model cnn2] [--image-size 64] [--rounds 3] [--gpus]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

ONE_SETTING = r"""
import json, sys, time
import tensorflow as tf
a = json.loads(sys.argv[1])
kind = 'GPU' if a['gpus'] else 'CPU'
if not a['gpus']:
    tf.config.set_visible_devices([], 'GPU')
    cpu = tf.config.list_physical_devices('CPU')[0]
    if a['replicas'] > 1: tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * a['replicas'])
import keras
from mask_detection.pipeline import image_dataset, load_split
from mask_detection.models import build
from mask_detection.train import compile_model
devices = [d.name for d in tf.config.list_logical_devices(kind)][:a['replicas']]
assert len(devices) == a['replicas'], devices
strategy = tf.distribute.get_strategy() if a['setting'] == 'one' else tf.distribute.MirroredStrategy(devices)
keras.utils.set_random_seed(1)
with strategy.scope(): model = compile_model(build(a['model'], a['image_size']))
prep = a['prepared']
ds = image_dataset(load_split(prep + '/split.csv'), prep + '/crops', 'train', batch_size=a['batch_size'] * strategy.num_replicas_in_sync,
                   image_size=a['image_size'], limit=a['limit'], shuffle=True)
class Clock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None): self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None): times.append(time.perf_counter() - self.t)
times = []
model.fit(ds, epochs=1 + a['epochs'], verbose=0, callbacks=[Clock()])
faces = sum(int(y.shape[0]) for _, y in ds)
print(json.dumps(dict(replicas=strategy.num_replicas_in_sync, strategy=type(strategy).__name__, devices=','.join(devices),
                      faces_per_epoch=faces, seconds=sum(times[1:]), faces_per_s=faces * a['epochs'] / sum(times[1:]))))
"""


def machine(gpus:bool) -> str:
    "The machine in words: CPU model and cores, or the GPUs."
    if gpus:
        r = subprocess.run(['nvidia-smi', '--query-gpu=name', '--format=csv,noheader'], capture_output=True, text=True)
        names = [n.strip() for n in r.stdout.splitlines() if n.strip()]
        return f"{len(names)} x {names[0]}" if names else 'GPU'
    cpu = platform.processor() or platform.machine()
    try: cpu = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): pass
    return f"{cpu}, {os.cpu_count()} cores"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--prepared', required=True, help='output folder of `mask-detection prepare` (real dataset)')
    ap.add_argument('--model', default='cnn2')
    ap.add_argument('--image-size', type=int, default=64)
    ap.add_argument('--batch-size', type=int, default=32, help='per replica')
    ap.add_argument('--limit', type=int, default=None, help='train faces used (default: all 3159)')
    ap.add_argument('--epochs', type=int, default=2, help='timed epochs (after one untimed)')
    ap.add_argument('--rounds', type=int, default=3, help='runs of each setting; the median is reported')
    ap.add_argument('--gpus', action='store_true', help='GPUs instead of logical CPU devices')
    ap.add_argument('--out', default=HERE.parent/'mask_detection'/'distribute_speed.csv')
    a = ap.parse_args()
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}
    settings, runs = (('one', 1), ('mirrored-1', 1), ('mirrored-2', 2)), []
    for r in range(a.rounds):            # settings interleaved, so a busy spell of a shared machine hits them all
        for setting, replicas in settings:
            args = dict(setting=setting, replicas=replicas, model=a.model, image_size=a.image_size, batch_size=a.batch_size,
                        limit=a.limit, epochs=a.epochs, gpus=a.gpus, prepared=str(Path(a.prepared).resolve()))
            p = subprocess.run([sys.executable, '-c', ONE_SETTING, json.dumps(args)], capture_output=True, text=True, env=env)
            if p.returncode != 0:
                print(f"{setting}: failed ({p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode})"); continue
            res = json.loads(p.stdout.strip().splitlines()[-1])
            runs.append(dict(setting=setting, **res)); print(f"round {r + 1}: {setting}: {res['faces_per_s']:.0f} faces/s")
    runs = pd.DataFrame(runs)
    rows = []
    for setting, g in runs.groupby('setting', sort=False):
        rows.append(dict(machine=machine(a.gpus), device='GPU' if a.gpus else 'logical CPU', setting=setting,
                         replicas=g.replicas.iloc[0], devices=g.devices.iloc[0], model=a.model, image_size=a.image_size,
                         batch_per_replica=a.batch_size, global_batch=a.batch_size * g.replicas.iloc[0],
                         faces=g.faces_per_epoch.iloc[0], epochs_timed=a.epochs, rounds=len(g),
                         faces_per_s=round(g.faces_per_s.median(), 1), min_faces_per_s=round(g.faces_per_s.min(), 1),
                         max_faces_per_s=round(g.faces_per_s.max(), 1)))
    df = pd.DataFrame(rows)
    base = df.faces_per_s[df.setting == 'one']
    if len(base): df['vs_one'] = (df.faces_per_s / base.iloc[0]).round(2)
    out = Path(a.out)
    if out.exists(): df = pd.concat([pd.read_csv(out).query('machine != @df.machine.iloc[0] or device != @df.device.iloc[0]'), df])
    df.to_csv(out, index=False)
    print(df.to_string(index=False))

if __name__ == '__main__':
    main()
