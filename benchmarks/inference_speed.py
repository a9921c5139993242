"""Inference throughput of the shipped models: faces per second of `classify`, photos per second of `detect`,
one item per call against many items in one call, and one item per call with the models left to their defaults
(the shipped ones, as a user calling `classify(f)` or `detect(p)` in a loop would).

Both sides use the same files, the same loaded models and the same Python functions a user calls (`classify` on face
images written from the dataset's boxes, `detect` on the dataset's photos); the models are loaded and warmed up before
timing, and the two ways alternate over `--repeats` rounds (the median is kept), so a busy machine slows both alike.
The command-line start (`mask-detection classify|detect` on one file: process start, TensorFlow import, model load)
is timed too. TensorFlow and the face finder are held to `--threads` threads. Results go to
mask_detection/inference_speed.csv (installed with the package; the benchmarks page shows it).

    python benchmarks/inference_speed.py [--data DIR] [--faces 256] [--photos 40] [--threads 2] [--repeats 3]
                                         [--code LABEL] [--append]

`--code` names the version of the package measured and `--append` adds its rows to the results file, so that two
versions can stand side by side (run the older one from its own checkout with PYTHONPATH pointing there).
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def timed(fn):
    t0 = time.perf_counter(); fn(); return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None, help='dataset folder (default: find_data())')
    ap.add_argument('--faces', type=int, default=256, help='face images classified (every k-th face of the dataset)')
    ap.add_argument('--photos', type=int, default=40, help='photos searched (every k-th photo of the dataset)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--out', default=HERE.parent/'mask_detection'/'inference_speed.csv')
    ap.add_argument('--code', default='this version', help='label of the package version measured')
    ap.add_argument('--append', action='store_true', help='add to the results file instead of replacing it')
    a = ap.parse_args()
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    from PIL import Image
    from mask_detection.annotations import read_annotations
    from mask_detection.classifier import classify, load_classifier
    from mask_detection.data import find_data, load_photo, photo_names
    from mask_detection.detect import FaceFinder, detect
    data = find_data(a.data)
    faces, _ = read_annotations(data)
    faces = faces.iloc[::max(1, len(faces) // a.faces)].head(a.faces)
    names = photo_names(data)
    photos = [data.images/f'{n}.png' for n in names[::max(1, len(names) // a.photos)][:a.photos]]
    model, finder = load_classifier(), FaceFinder(threads=a.threads)
    import inspect   # versions with a box refiner: load it once, as the classifier is
    if 'refiner' in inspect.signature(detect).parameters:
        try: from mask_detection.refiner import load_refiner
        except ImportError: from mask_detection.detect import load_refiner   # versions before chapter 15 was split by stage
        kw = dict(refiner=load_refiner())
    else: kw = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, f in enumerate(faces.itertuples()):  # each face as its own image file, as a user would pass them
            p = Path(tmp)/f'face{i:04d}.png'
            Image.fromarray(load_photo(data.images/f.file)).crop((f.xmin, f.ymin, f.xmax, f.ymax)).save(p)
            files.append(p)
        classify(files[:2], model); classify(files[0], model); detect(photos[0], model, finder, **kw)  # warm-up
        ways = {('classify', 'one call, all faces'): lambda: classify(files, model),
                ('classify', 'one call per face'): lambda: [classify(f, model) for f in files],
                ('detect', 'one call, all photos'): lambda: detect(photos, model, finder, **kw),
                ('detect', 'one call per photo'): lambda: [detect(p, model, finder, **kw) for p in photos],
                ('classify', 'one call per face, default model'): lambda: [classify(f) for f in files],
                ('detect', 'one call per photo, default models'): lambda: [detect(p) for p in photos]}
        secs = {k: [] for k in ways}
        for _ in range(a.repeats):
            for k, fn in ways.items(): secs[k].append(timed(fn))
        for (task, way), s in secs.items():
            n = len(files) if task == 'classify' else len(photos)
            rows.append(dict(task=task, way=way, items=n, per_second=round(n / np.median(s), 1), ms_per_item=round(1000 * np.median(s) / n, 1)))
        cli = str(Path(sys.executable).parent/'mask-detection')
        for task, arg in (('classify', files[0]), ('detect', photos[0])):
            extra = ['--out', str(Path(tmp)/'det')] if task == 'detect' else []
            s = [timed(lambda: subprocess.run([cli, task, str(arg), *extra], check=True, capture_output=True)) for _ in range(a.repeats)]
            rows.append(dict(task=task, way='command line, one file (start, load, run)', items=1, per_second=round(1 / np.median(s), 2),
                             ms_per_item=round(1000 * np.median(s), 1)))
    res = pd.DataFrame(rows)
    single = res[res.way.isin(['one call per face', 'one call per photo'])].set_index('task').ms_per_item
    res['speed_vs_one_per_call'] = (res.task.map(single) / res.ms_per_item).round(2)
    res['threads'], res['cpus'], res['machine'] = a.threads, os.cpu_count(), platform.processor() or platform.machine()
    res.insert(0, 'code', a.code)
    if a.append and Path(a.out).is_file(): res = pd.concat([pd.read_csv(a.out), res], ignore_index=True)
    res.to_csv(a.out, index=False)
    print(res.to_string(index=False))


if __name__ == '__main__':
    main()
