"The shipped classifier: `mask-detection classify` offline on face images, and its numbers on the held-out photos."
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import FULL_DATA, ROOT, run_cli, run_main
from mask_detection.annotations import read_annotations
from mask_detection.classifier import FRAME, LABELS, context_crop, shipped_model_path
from mask_detection.data import find_data, load_photo, sample_dir


@pytest.fixture(scope='module')
def face_folder(tmp_path_factory):
    "Faces cut out of the bundled sample's photos, named by their true label."
    out = tmp_path_factory.mktemp('faces')
    faces, _ = read_annotations(find_data(sample=True, verbose=False))
    big = faces[(faces.xmax - faces.xmin) >= 24]
    for i, f in big.iterrows():
        img = load_photo(sample_dir()/'images'/f.file)
        Image.fromarray(context_crop(img, (f.xmin, f.ymin, f.xmax, f.ymax), scale=FRAME, size=96)).save(out/f'{f.label}-{i}.png')
    return out


def test_shipped_model_is_small_and_in_the_package():
    p = shipped_model_path()
    assert p.is_file() and p.stat().st_size < 5_000_000


def test_classify_cli_on_sample_faces(face_folder, tmp_path):
    r = run_cli('classify', face_folder, '--csv', tmp_path/'out.csv')
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(tmp_path/'out.csv')
    assert list(t.columns) == ['file', 'label', 'probability']
    assert len(t) == len(list(face_folder.glob('*.png'))) and set(t.label) <= set(LABELS)
    truth = t.file.map(lambda f: Path(f).name.split('-')[0])
    two = truth != 'mask_weared_incorrect'
    assert (t.label[two] == truth[two]).mean() >= 0.85          # faces of at least 24 px from the sample's photos


def test_classify_cli_prints_and_names_bad_files(face_folder, tmp_path):
    good = sorted(face_folder.glob('*.png'))[:2]
    bad = tmp_path/'corrupt.png'; bad.write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)
    r = run_main('classify', *good, bad)
    assert r.returncode == 1
    assert 'corrupt.png' in r.stderr and 'Traceback' not in r.stderr
    rows = r.stdout.strip().splitlines()
    assert rows[0] == 'file,label,probability' and len(rows) == 3


def test_classify_cli_missing_input_is_one_line(tmp_path):
    r = run_cli('classify', tmp_path/'nope.png')
    assert r.returncode == 1 and 'nope.png' in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_wheel_carries_model_and_folds(tmp_path):
    import subprocess, sys
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path), str(ROOT)], check=True)
    names = zipfile.ZipFile(next(tmp_path.glob('*.whl'))).namelist()
    assert 'mask_detection/weights/face_classifier.keras' in names and 'mask_detection/photo_folds.csv' in names
    assert 'mask_detection/weights/box_refiner.keras' in names   # detect's second stage


@pytest.mark.skipif(not FULL_DATA.is_dir(), reason='needs the full dataset beside the checkout')
def test_shipped_model_on_heldout_photos():
    "The shipped model, scored on the held-out photos it never saw (chapter 14's numbers)."
    from mask_detection.classifier import context_crops, face_scores, load_classifier, predict_faces
    from mask_detection.heldout import grouped_split, heldout_photos, shipped_folds
    data = find_data(FULL_DATA, verbose=False)
    faces, _ = read_annotations(data)
    te = (grouped_split(faces, shipped_folds()) == 'test').to_numpy()
    listed = (ROOT/'results'/'heldout_photos.txt').read_text().split()
    assert listed == heldout_photos() and sorted(set(faces.file[te])) == listed
    s = face_scores(faces.label_id.to_numpy()[te], predict_faces(load_classifier(), context_crops(faces[te], data)))
    assert s['faces'] == te.sum() and s['accuracy_2'] >= 0.95 and s['accuracy_3'] >= 0.92, s


def test_shipped_models_load_once_per_process():
    "`classify` and `detect` in a loop share one loaded copy of each shipped model; a path still loads a fresh one."
    from mask_detection.classifier import as_classifier, shipped_model_path
    from mask_detection.refiner import as_refiner, shipped_refiner_path
    assert as_classifier() is as_classifier(None)
    assert as_refiner() is as_refiner('shipped')
    assert as_classifier(shipped_model_path()) is not as_classifier()
    assert as_refiner(shipped_refiner_path()) is not as_refiner()
    assert as_refiner(None) is None


def traces(model) -> list:
    "A list that grows by one each time Keras traces `model` (its last layer's `call` runs in Python only then)."
    layer, calls = model.layers[-1], []
    call = layer.call
    layer.call = lambda *a, **k: (calls.append(1), call(*a, **k))[1]
    return calls

def test_batches_of_every_size_are_traced_a_few_times_only():
    "`forward` and the refiner take each photo's faces at their own size: Keras' compiled call is traced for two sizes, then once for any size, never once a photo."
    from mask_detection.classifier import forward, load_classifier, predict_faces
    from mask_detection.refiner import load_refiner, refine_boxes
    rng = np.random.default_rng(0)
    for model, run in ((load_classifier(), lambda n: forward(model, rng.integers(0, 255, (n, *model.input_shape[1:])).astype('uint8'))),
                       (load_refiner(), lambda n: refine_boxes(rng.integers(0, 255, (200, 300, 3), dtype='uint8'),
                                                               np.tile([[50., 40, 90, 80]], (n, 1)), model))):
        calls = traces(model)
        outs = [run(n) for n in range(1, 21)]
        assert 1 <= len(calls) <= 3, len(calls)
        assert [len(o[1] if isinstance(o, tuple) else o) for o in outs] == list(range(1, 21))
    img = rng.integers(0, 255, (5, 96, 96, 3), dtype='uint8')
    np.testing.assert_allclose(predict_faces(load_classifier(), img)[:2], predict_faces(load_classifier(), img[:2]), atol=1e-5)   # a face's answer does not depend on the batch


def test_a_call_over_many_batches_is_traced_once(face_folder):
    "`classify_batches` sends a short last batch at full size: one trace of the model per call, and each image's answer as when it goes alone."
    from mask_detection.classifier import classify_batches, load_classifier
    files = sorted(face_folder.glob('*.png'))
    files = (files * (40 // len(files) + 1))[:40]                    # 40 images: batches of 16, 16 and 8
    model = load_classifier()
    calls = traces(model)
    rows = pd.concat(classify_batches(files, model, batch_size=16))
    assert len(calls) == 1 and len(rows) == 40, len(calls)
    alone = pd.concat(classify_batches(files[-3:], load_classifier(), batch_size=16))
    np.testing.assert_allclose(rows.probability.to_numpy()[-3:], alone.probability.to_numpy(), atol=1e-4)
