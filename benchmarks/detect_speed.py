"""Time per photo of `mask_detection.detect`: the face finder alone, and `detect_photo` whole (the finder, the box refiner, then the classifier on the boxes that can pass).

Photos of this dataset (most 400 x 300 pixels), or the same photos enlarged to `--side` pixels on
their longer side (1000: the size of photos from elsewhere), each decoded before timing; the model is
loaded and one photo run before timing starts. TensorFlow and the face finder are held to
`--threads` threads (2: the course's reference machine). Results go to mask_detection/detect_speed.csv (installed with the package; the benchmarks page shows it),
one row per version of the code (`--code` names it, `--append` keeps the rows already there).

    python benchmarks/detect_speed.py [--data DIR] [--photos N] [--side PIXELS] [--model FILE.keras] [--refiner FILE.keras|none] [--verifier shipped|none] [--threads 2] [--code LABEL --append]

Run it with PYTHONPATH pointing at a checkout of an older version to time that version beside this one on
the same machine (options the older code lacks are left out).
"""
import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None, help='dataset folder (default: find_data())')
    ap.add_argument('--photos', type=int, default=100, help='photos timed (every k-th photo of the dataset)')
    ap.add_argument('--model', default=None, help='a .keras classifier (default: the shipped one)')
    ap.add_argument('--refiner', default='shipped', help="a .keras box refiner, 'shipped' (default) or 'none'")
    ap.add_argument('--verifier', default='shipped', help="'shipped' (default) or 'none' (versions without a verifier ignore it)")
    ap.add_argument('--side', type=int, default=None, help='enlarge (or shrink) each photo to this longer side first')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', default=HERE.parent/'mask_detection'/'detect_speed.csv')
    ap.add_argument('--code', default='current', help='names the version of the code measured')
    ap.add_argument('--append', action='store_true', help='add the row to the results file instead of replacing it')
    a = ap.parse_args()
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    from mask_detection.classifier import load_classifier
    from mask_detection.data import find_data, load_photo, photo_names
    import inspect
    from PIL import Image
    import mask_detection.detect as D
    from mask_detection.detect import FaceFinder, as_refiner, detect_photo   # the pipeline module still names them (older checkouts have no finder or refiner module)
    data = find_data(a.data)
    names = photo_names(data)
    names = names[::max(1, len(names) // a.photos)][:a.photos]
    imgs = [load_photo(data.images/f'{n}.png') for n in names]
    if a.side:
        def resized(img):
            k = a.side / max(img.shape[:2])
            return np.asarray(Image.fromarray(img).resize((round(img.shape[1] * k), round(img.shape[0] * k)), Image.BICUBIC))
        imgs = [resized(im) for im in imgs]
    model, finder = load_classifier(a.model), FaceFinder(threads=a.threads)
    refiner = as_refiner(None if a.refiner == 'none' else a.refiner)
    kw = dict(refiner=refiner)
    if 'verifier' in inspect.signature(detect_photo).parameters:   # versions with a face verifier
        kw['verifier'] = None if a.verifier == 'none' else D.as_verifier(a.verifier)
    detect_photo(imgs[0], model, finder, **kw)   # warm-up
    find_t, total_t, n_faces = [], [], []
    for img in imgs:
        t0 = time.perf_counter(); boxes, conf = finder(img); t1 = time.perf_counter()
        detect_photo(img, model, finder, **kw); t2 = time.perf_counter()      # finds the faces again, then labels them
        find_t.append(t1 - t0); total_t.append(t2 - t1); n_faces.append(len(boxes))
    row = dict(code=a.code, photos=len(imgs), side=a.side or 'as is', median_side=int(np.median([max(im.shape[:2]) for im in imgs])), threads=a.threads, cpus=os.cpu_count(), machine=platform.processor() or platform.machine(),
               median_ms_finder=round(1000 * np.median(find_t), 1), median_ms_total=round(1000 * np.median(total_t), 1),
               p90_ms_total=round(1000 * np.percentile(total_t, 90), 1), median_boxes=float(np.median(n_faces)),
               model=Path(a.model).name if a.model else 'shipped', refiner=a.refiner if a.refiner in ('shipped', 'none') else Path(a.refiner).name,
               verifier=a.verifier if 'verifier' in kw else 'none')
    res = pd.DataFrame([row])
    if a.append and Path(a.out).is_file(): res = pd.concat([pd.read_csv(a.out), res], ignore_index=True)
    res.to_csv(a.out, index=False)
    print(pd.DataFrame([row]).T.to_string(header=False))


if __name__ == '__main__':
    main()
