"""Time and peak memory of the report's crop-save-read pipeline against `mask-detection prepare`, side by side.

The report's pipeline (its chapters 7 and 8): open the photo again for every face, crop the box, resize
it bilinearly to SIZE x SIZE and save it as a PNG (Pillow's default settings, as `keras.utils.save_img`
does); then list the crop folder, drop class 2, split 80/10/10 with `train_test_split(random_state=1)`,
read every crop with `cv2.imread`, convert BGR to RGB, resize, stack into one array and divide by 255
(float64). `prepare` is the course's command, run into an empty folder with its default workers.

Each run is a process of its own, timed from start to exit (imports included); its peak resident set
size comes from os.wait4 (for `prepare`, the largest of the process and its workers). Runs: 256 and
64 pixels on the data, and 64 and 256 pixels on ten times the data: the photos listed ten times under
other names (links to the same files, annotations copied with the new file name), so every cost is
paid ten times. The report's pipeline is not run at 10x and 256 pixels: its float64 arrays alone would
need 10 x 4072 x 256 x 256 x 3 x 8 bytes = 64 GB. Results go to mask_detection/prepare_speed.csv
(installed with the package), which chapter 7 shows.

    python benchmarks/prepare_speed.py [--data DIR] [--out CSV]
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

REPORT = r'''
import json, os, sys, time
from pathlib import Path
import cv2, numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split
from mask_detection.annotations import read_annotations
from mask_detection.data import DataSource
data, folder, size = DataSource(Path(sys.argv[1]), 'argument'), sys.argv[2], int(sys.argv[3])
t0 = time.time()
faces, _ = read_annotations(data, progress=False)
for i, f in enumerate(faces.itertuples()):            # chapter 7: the photo is opened again for every face
    face = Image.open(data.images/f.file).convert('RGB').crop((f.xmin, f.ymin, f.xmax, f.ymax))
    face.resize((size, size), Image.BILINEAR).save(f"{folder}/{i}. {f.label_id}.png")
t1 = time.time()
paths = [p for p in os.listdir(folder) if p.endswith('.png')]    # chapter 8
labels = [int(p[-5:-4]) for p in paths]
keep = [k for k, l in enumerate(labels) if l != 2]
X, y = [paths[k] for k in keep], [labels[k] for k in keep]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=1)
X_dev, X_test, y_dev, y_test = train_test_split(X_test, y_test, test_size=0.5, random_state=1)
def reading_images(X, image_size=size):
    return [cv2.resize(cv2.cvtColor(cv2.imread(f"{folder}/{p}"), cv2.COLOR_BGR2RGB).astype(np.uint8), (image_size, image_size)) for p in X]
X_train_arr, X_dev_arr, X_test_arr = (np.array(reading_images(X)) / 255 for X in (X_train, X_dev, X_test))
t2 = time.time()
print(json.dumps(dict(faces=len(faces), split=[len(X_train), len(X_dev), len(X_test)], cut_s=round(t1 - t0, 1), read_s=round(t2 - t1, 1))))
'''

PREPARE = 'import sys; from mask_detection.cli import main; sys.exit(main(sys.argv[1:]))'


def timed(cmd):
    "Run a command; return (seconds, peak resident MB, stdout)."
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0: raise SystemExit(f"{cmd[:4]} failed with status {status}")
    return time.time() - t0, usage.ru_maxrss / 1024, out  # ru_maxrss is in KiB on Linux


def repeated(data:Path, root:Path, times:int) -> Path:
    "A dataset folder holding every photo of `data` `times` times under other names (links), with its annotations."
    for d in ('images', 'annotations'): (root/d).mkdir(parents=True)
    for k in range(times):
        for p in (data/'images').iterdir(): (root/'images'/f'c{k}_{p.name}').symlink_to(p.resolve())
        for p in (data/'annotations').glob('*.xml'):
            text = re.sub(r'<filename>([^<]*)</filename>', rf'<filename>c{k}_\1</filename>', p.read_text())
            (root/'annotations'/f'c{k}_{p.name}').write_text(text)
    return root


def machine() -> str:
    "CPU model and the cores this process may use."
    model = platform.processor() or platform.machine()
    try: model = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return f"{model}, {cores} cores, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', type=Path, default=None, help='dataset folder (default: found as find_data does)')
    ap.add_argument('--out', type=Path, default=HERE.parent/'mask_detection'/'prepare_speed.csv')
    args = ap.parse_args()
    from mask_detection.data import find_data
    data = Path(find_data(args.data).path)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ten = repeated(data, tmp/'data10', 10)
        for p in (data/'images').iterdir(): p.read_bytes()   # both pipelines start from a warm file cache
        for scale, size, src in ((1, 256, data), (1, 64, data), (10, 64, ten), (10, 256, ten)):
            row = dict(scale=scale, size=size)
            if not (scale == 10 and size == 256):
                (tmp/'report').mkdir()
                secs, mb, out = timed([sys.executable, '-c', REPORT, str(src), str(tmp/'report'), str(size)])
                shutil.rmtree(tmp/'report')
                info = json.loads(out.strip().splitlines()[-1])
                rows.append(report := dict(pipeline='report', **row, faces=info['faces'], seconds=round(secs, 1), peak_mb=round(mb),
                                           ratio=1.0, detail=f"crop+save {info['cut_s']} s, read {info['read_s']} s"))
                print(report, flush=True)
            secs, mb, out = timed([sys.executable, '-c', PREPARE, 'prepare', '--data', str(src), '--out', str(tmp/'prepared'),
                                   '--size', str(size), '--quiet'])
            shutil.rmtree(tmp/'prepared')
            split = re.search(r'split train (\d+) / dev (\d+) / test (\d+) / excluded (\d+)', out).groups()
            if scale == 1 and split != ('3159', '395', '395', '123') and 'face-mask-detection' in str(data):
                raise SystemExit(f"prepare's split changed: {split}")
            faces = int(re.search(r'(\d+) faces in', out).group(1))
            ratio = round(rows[-1]['seconds'] / secs, 1) if rows and rows[-1]['pipeline'] == 'report' and rows[-1]['size'] == size else None
            rows.append(dict(pipeline='prepare', **row, faces=faces, seconds=round(secs, 1), peak_mb=round(mb), ratio=ratio,
                             detail=f"split {' / '.join(split)}"))
            print(rows[-1], flush=True)
    res = pd.DataFrame(rows).assign(machine=machine())
    res.to_csv(args.out, index=False)
    print(res.drop(columns='machine').to_string(index=False))


if __name__ == '__main__':
    main()
