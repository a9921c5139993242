"""Is the input pipeline ever the bottleneck? One training epoch of a model fed by the course's `tf.data` pipeline
(PNG crops decoded once, then cached as uint8) against the same model fed from uint8 arrays already in memory.

One process, one model: the two feeds take turns epoch by epoch (`--rounds` times each, after one untimed
epoch each: tracing, and for the pipeline the cache filling, which is timed separately), so a shared machine's
drift falls on both. Results go to mask_detection/pipeline_speed.csv (installed with the package; the
benchmarks page shows it).

    mask-detection prepare --out PREP
    python benchmarks/pipeline_speed.py --prepared PREP [--model cnn2] [--rounds 3]
"""
import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from prepare_speed import machine   # the same machine line as the prepare benchmark (this script's folder is on sys.path)

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--prepared', type=Path, required=True, help='output folder of `mask-detection prepare`')
    ap.add_argument('--model', default='cnn2')
    ap.add_argument('--rounds', type=int, default=3, help='timed epochs per feed')
    ap.add_argument('--limit', type=int, help='only this many training faces (a quick check)')
    ap.add_argument('--out', type=Path, default=HERE.parent/'mask_detection'/'pipeline_speed.csv')
    a = ap.parse_args(argv)
    import tensorflow as tf, keras
    from mask_detection.pipeline import image_dataset, load_split, read_split
    from mask_detection.models import build
    from mask_detection.models import model_spec
    from mask_detection.train import compile_model
    table, crops = load_split(a.prepared/'split.csv'), a.prepared/'crops'
    cfg = model_spec(a.model).config
    pipeline = image_dataset(table, crops, 'train', batch_size=cfg.batch_size, image_size=cfg.image_size, shuffle=True, limit=a.limit)
    x, y = read_split(table, crops, 'train', cfg.image_size)
    if a.limit: x, y = x[:a.limit], y[:a.limit]
    memory = (tf.data.Dataset.from_tensor_slices((x, y.astype('float32').reshape(-1, 1))).shuffle(len(x), seed=1)
              .batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE))
    keras.utils.set_random_seed(1)
    model = compile_model(build(a.model, cfg.image_size))
    def epoch(ds):
        t = time.perf_counter(); model.fit(ds, epochs=1, verbose=0); return time.perf_counter() - t
    first = {'pipeline': epoch(pipeline), 'memory': epoch(memory)}   # tracing; the pipeline fills its cache
    times = {'pipeline': [], 'memory': []}
    for _ in range(a.rounds):
        for feed, ds in (('pipeline', pipeline), ('memory', memory)): times[feed].append(epoch(ds))
    med = {k: float(np.median(v)) for k, v in times.items()}
    rows = [dict(machine=machine(), model=a.model, image_size=cfg.image_size, faces=len(x), feed=feed,
                 first_epoch_s=round(first[feed], 1), median_s=round(med[feed], 1), min_s=round(min(times[feed]), 1),
                 max_s=round(max(times[feed]), 1), rounds=a.rounds, ratio_to_memory=round(med[feed] / med['memory'], 3))
            for feed in ('pipeline', 'memory')]
    df = pd.DataFrame(rows)
    if not a.limit: df.to_csv(a.out, index=False)
    print(df.to_string(index=False))


if __name__ == '__main__':
    main()
