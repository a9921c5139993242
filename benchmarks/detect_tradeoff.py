"""What a cheaper setting of `detect` costs on both sources' dev parts: the knobs that decide its work (the refiner's reads, the finder's tile overlaps) against its dev numbers.

The shipped models (classifier, box refiner, verifier and fusion, threshold) are used as they are; one setting is
changed per run:
- `passes`: the refiner's reads of each kept box (`REFINER_PASSES`, 3);
- `overlap`: the finder's overlap by tile share (`FINDER_OVERLAP`; keys as floats, e.g. "0.16666666666666666" for 1/6).
The fusion was fitted on three reads, so fewer reads are judged without refitting it: a cheaper setting must keep
its dev numbers before chapter 18 is rerun for it.

Measured per run: the Kaggle dev photos (fold 1, at their own size; detections down to 0.05 for AP) give mAP50,
face AP50, and face recall and precision at `DETECT_MIN_SCORE`; the second source's dev images (one face each) give
the share with exactly one face and with none at `DETECT_MIN_SCORE`. The work is counted as the refiner's crops per
image (machine-independent), on both dev parts and on 30 Kaggle photos enlarged to 1000 pixels, where the time per
photo is taken too (warm, 2 threads; it is only comparable between runs on the same idle machine). A row is appended
to mask_detection/detect_tradeoff.csv per run (installed with the package; the benchmarks page shows it).

    python benchmarks/detect_tradeoff.py --name baseline
    python benchmarks/detect_tradeoff.py --name passes2 --config '{"passes": 2}'
"""
import argparse
import functools
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--name', required=True, help='names the setting in the results file')
    ap.add_argument('--config', default='{}', help='JSON: {"passes": N, "overlap": {"share": overlap, ...}}')
    ap.add_argument('--note', default='', help='a remark kept with the row (e.g. that the machine was busy)')
    ap.add_argument('--out', default=HERE.parent/'mask_detection'/'detect_tradeoff.csv')
    a = ap.parse_args()
    cfg = json.loads(a.config)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    from importlib.resources import files
    from PIL import Image
    import mask_detection.detect as D
    import mask_detection.refiner as R
    from mask_detection.annotations import read_annotations
    from mask_detection.classifier import load_classifier
    from mask_detection.data import LABELS, find_data, load_photo, quiet_stderr
    from mask_detection.elsewhere import find_other_faces, read_other_faces
    from mask_detection.finder import FINDER_OVERLAP, FaceFinder
    from mask_detection.heldout import DEV_FOLD, shipped_folds
    from mask_detection.scoring import evaluate_detections, match_detections
    from mask_detection.verifier import as_verifier

    data = find_data(); faces, _ = read_annotations(data)
    folds = shipped_folds()
    dev = sorted(f'{p}.png' for p in folds.index[folds == DEV_FOLD])
    other = read_other_faces(find_other_faces())
    split = pd.read_csv(files('mask_detection')/'other_split.csv').set_index('file').split
    other_dev = other[other.file.map(split) == 'dev']

    D.refine_repeatedly = functools.partial(R.refine_repeatedly, passes=cfg.get('passes', R.REFINER_PASSES))   # what detect calls
    overlap = {float(k): v for k, v in cfg['overlap'].items()} if 'overlap' in cfg else FINDER_OVERLAP
    finder = FaceFinder(overlap=overlap)
    model, refiner, verifier = load_classifier(), R.as_refiner('shipped'), as_verifier('shipped')
    crops, read = {'n': 0}, R.refine_boxes
    def counted(img, boxes, refiner, **kw):
        crops['n'] += len(boxes); return read(img, boxes, refiner, **kw)
    R.refine_boxes = counted   # refine_repeatedly looks it up in its module at each call
    detect = lambda img, min_score: D.detect_photo(img, model, finder, min_score=min_score, refiner=refiner, verifier=verifier)

    t0, rows = time.time(), []
    with quiet_stderr():
        for f in dev:
            b, p, s = detect(load_photo(data.images/f), 0.05)
            rows += [(f, *box, LABELS[pr.argmax()], sc) for box, pr, sc in zip(b, p, s)]
        crops_kaggle, crops['n'] = crops['n'] / len(dev), 0
        n = np.array([len(detect(load_photo(p), D.DETECT_MIN_SCORE)[0]) for p in other_dev.path])
        crops_other = crops['n'] / len(other_dev)
        imgs = []
        for name in sorted(folds.index)[::28][:30]:
            im = load_photo(data.images/f'{name}.png'); k = 1000 / max(im.shape[:2])
            imgs.append(np.asarray(Image.fromarray(im).resize((round(im.shape[1] * k), round(im.shape[0] * k)), Image.BICUBIC)))
        detect(imgs[0], D.DETECT_MIN_SCORE); crops['n'], ts = 0, []   # warm-up
        for im in imgs:
            t = time.perf_counter(); detect(im, D.DETECT_MIN_SCORE); ts.append(time.perf_counter() - t)
    dets = pd.DataFrame(rows, columns=['file', 'xmin', 'ymin', 'xmax', 'ymax', 'label', 'score'])
    truth = faces[faces.file.isin(dev)]
    ev = evaluate_detections(dets, truth, D.DETECT_MIN_SCORE)
    tp, _ = match_detections(dets[dets.score >= D.DETECT_MIN_SCORE], truth, by_class=False)
    row = dict(setting=a.name, config=json.dumps(cfg), kaggle_dev_mAP50=round(ev['mAP50'], 4), kaggle_dev_face_AP50=round(ev['face AP50'], 4),
               kaggle_dev_recall=round(ev['face recall'], 4), kaggle_dev_precision=round(tp.mean(), 4),
               other_dev_exactly_one=round((n == 1).mean(), 4), other_dev_none=round((n == 0).mean(), 4),
               crops_kaggle_dev=round(crops_kaggle, 1), crops_other_dev=round(crops_other, 1), crops_1000px=round(crops['n'] / len(imgs), 1),
               median_ms_1000px=round(1000 * np.median(ts), 1), seconds=round(time.time() - t0), threads=2, cpus=os.cpu_count(),
               machine=platform.processor() or platform.machine(), note=a.note)
    res = pd.DataFrame([row])
    if Path(a.out).is_file(): res = pd.concat([pd.read_csv(a.out, keep_default_na=False), res], ignore_index=True)
    res.to_csv(a.out, index=False)
    print(pd.DataFrame([row]).T.to_string(header=False))


if __name__ == '__main__':
    main()
