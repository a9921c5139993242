"`detect` and the `detect` command on the bundled sample photos; the shipped detector on the held-out photos of the full dataset."
import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import FULL_DATA
from mask_detection.annotations import read_annotations
from mask_detection.data import LABELS, DataError, find_data, sample_dir
from mask_detection.cli import main
from mask_detection.finder import FaceFinder
from mask_detection.scoring import match_detections
from mask_detection.detect import DETECT_COLUMNS, SHIPPED_CORRECTION, detect


@pytest.fixture(scope='module')
def finder():
    return FaceFinder()


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    "The shipped classifier; while it is not in the checkout, a small stand-in trained on the sample's faces."
    from mask_detection.classifier import ClassifierConfig, context_crops, fit_classifier, load_classifier, shipped_model_path
    if shipped_model_path().is_file(): return load_classifier()
    data = find_data(sample_dir())
    faces, _ = read_annotations(data)
    x, y = context_crops(faces, data), faces.label_id.to_numpy()
    m, _, _ = fit_classifier(x, y, x, y, tmp_path_factory.mktemp('standin'), ClassifierConfig(epochs=2, width=16), verbose=0)
    return m


@pytest.fixture(scope='module')
def sample_faces():
    return read_annotations(find_data(sample_dir()))[0]


def test_finder_finds_most_faces_of_32_px_and_more(finder, sample_faces):
    images = sample_dir()/'images'
    rows = []
    for name in sample_faces.file.unique():
        boxes, conf = finder(np.asarray(Image.open(images/name).convert('RGB')))
        b = SHIPPED_CORRECTION(boxes[conf >= 0.5])
        rows.append(pd.DataFrame(b, columns=['xmin', 'ymin', 'xmax', 'ymax']).assign(file=name, label='with_mask', score=conf[conf >= 0.5]))
    dets = pd.concat(rows, ignore_index=True)
    _, found = match_detections(dets, sample_faces, by_class=False)
    big = (sample_faces.xmax - sample_faces.xmin >= 32).to_numpy()
    assert big.sum() >= 20
    assert found[big].mean() >= 0.8
    assert found.mean() >= 0.6


def test_detect_table_on_sample(model, finder):
    files = sorted((sample_dir()/'images').glob('*.png'))[:6]
    dets = detect(files, model, finder)
    assert list(dets.columns) == DETECT_COLUMNS
    assert set(dets.file) <= {str(f) for f in files} and dets.file.nunique() >= 4
    assert set(dets.label) <= set(LABELS)
    assert ((dets.score > 0) & (dets.score <= 1)).all()
    for f, d in dets.groupby('file'):
        w, h = Image.open(f).size
        assert (d.xmin >= 0).all() and (d.ymin >= 0).all() and (d.xmax <= w).all() and (d.ymax <= h).all()
        assert (d.xmax > d.xmin).all() and (d.ymax > d.ymin).all()


def test_detect_maps_boxes_back_from_a_large_photo(model, finder, tmp_path):
    im = Image.open(sample_dir()/'images'/'maksssksksss1.png').convert('RGB')
    base = im.resize((1024, round(im.height * 1024 / im.width)))                 # the finder's largest side
    base.save(tmp_path/'base.png'); base.resize((2048, 2 * base.height)).save(tmp_path/'big.png')   # shrunk back to 1024 inside
    small, large = (detect(tmp_path/f, model, finder) for f in ('base.png', 'big.png'))   # at detect's threshold: the faces, not the background the refiner rules out
    assert len(small) >= 2 and abs(len(large) - len(small)) <= max(2, len(small) // 5)
    assert large.xmax.max() > 1024 and large.xmax.max() <= 2048 and large.ymax.max() <= 2 * base.height
    box = ['xmin', 'ymin', 'xmax', 'ymax']
    from mask_detection.finder import box_iou
    same = (box_iou(small[box].to_numpy() * 2, large[box].to_numpy()).max(1) > 0.7).sum()   # detections near the threshold may pass at one size only
    assert same >= 0.8 * min(len(small), len(large))


def test_unreadable_file_is_named(model, finder, tmp_path):
    bad = tmp_path/'broken.png'; bad.write_bytes(b'\x89PNG\r\n\x1a\n not a png')
    with pytest.raises(DataError, match='broken.png: cannot decode image'): detect(bad, model, finder)
    seen = []
    dets = detect([bad, sample_dir()/'images'/'maksssksksss1.png'], model, finder, on_error=lambda p, m: seen.append(p))
    assert seen == [bad] and dets.file.nunique() == 1


def test_detect_command_writes_tables_and_drawn_copies(model, finder, tmp_path):
    from mask_detection.classifier import shipped_model_path
    photos = tmp_path/'photos'; photos.mkdir()
    for name in ('maksssksksss1.png', 'maksssksksss145.png'): shutil.copy(sample_dir()/'images'/name, photos/name)
    (photos/'broken.png').write_bytes(b'not a png')
    model_file = shipped_model_path()
    if not model_file.is_file():
        model_file = tmp_path/'standin.keras'; model.save(model_file)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(['detect', str(photos), '--out', str(tmp_path/'out'), '--model', str(model_file)])
    assert rc == 1                      # one input could not be read: the others are written all the same
    assert err.getvalue().count('\n') == 1 and 'broken.png: cannot decode image' in err.getvalue()
    assert '2 photos' in out.getvalue() and '1 unreadable' in out.getvalue()
    dets = pd.read_csv(tmp_path/'out'/'detections.csv')
    counts = pd.read_csv(tmp_path/'out'/'counts.csv')
    assert list(dets.columns) == DETECT_COLUMNS and len(dets) >= 2
    assert list(counts.columns) == ['file', 'masked', 'unmasked', 'incorrect'] and len(counts) == 2
    assert counts[['masked', 'unmasked', 'incorrect']].to_numpy().sum() == len(dets)
    from mask_detection.detect import drawn_name
    for name in ('maksssksksss1.png', 'maksssksksss145.png'):
        drawn = Image.open(tmp_path/'out'/'drawn'/drawn_name(photos/name))
        assert drawn.size == Image.open(photos/name).size


def test_detect_command_fails_when_nothing_is_readable(tmp_path):
    (tmp_path/'broken.png').write_bytes(b'not a png')
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
        assert main(['detect', str(tmp_path/'missing.png'), '--out', str(tmp_path/'out')]) == 1
        assert main(['detect', str(tmp_path/'broken.png'), '--out', str(tmp_path/'out')]) == 1
    assert 'missing.png: no such file or folder' in err.getvalue() and 'broken.png: cannot decode image' in err.getvalue()


def test_refiner_sorts_and_places_boxes_on_sample(sample_faces):
    "The shipped refiner, on the candidates of chapter 15's finder on the sample: its face probability ranks them better than the finder's confidence (face AP), and its boxes reach at least as many faces."
    from mask_detection.finder import CHAPTER15_TILES, FaceFinder, nms
    from mask_detection.refiner import load_refiner, refine_boxes
    from mask_detection.scoring import voc_ap
    refiner, finder = load_refiner(), FaceFinder(tiles=CHAPTER15_TILES)
    raw, refined = [], []
    for name in sample_faces.file.unique():
        img = np.asarray(Image.open(sample_dir()/'images'/name).convert('RGB'))
        boxes, conf = finder(img)
        boxes = SHIPPED_CORRECTION(boxes)
        moved, face = refine_boxes(img, boxes, refiner)
        assert moved.shape == boxes.shape and ((face >= 0) & (face <= 1)).all()
        for out, b, s in ((raw, boxes, conf), (refined, moved, face)):
            k = nms(b, s, 0.3)
            out.append(pd.DataFrame(b[k], columns=['xmin', 'ymin', 'xmax', 'ymax']).assign(file=name, label='face', score=s[k]))
    ap = {}
    for name, parts in (('raw', raw), ('refined', refined)):
        d = pd.concat(parts, ignore_index=True)
        tp, found = match_detections(d, sample_faces, by_class=False)
        ap[name] = voc_ap(d.score, tp, len(sample_faces))[0]
    assert ap['refined'] >= ap['raw'] + 0.05, ap


def test_label_confidence_counts_incorrect_masks_as_masks():
    "A face whose probability is split between the two masked labels is sure to wear a mask; one split between masked and bare is not."
    from mask_detection.detect import label_confidence
    p = np.zeros((3, len(LABELS)))
    p[0, [LABELS.index('with_mask'), LABELS.index('mask_weared_incorrect')]] = 0.5
    p[1, [LABELS.index('with_mask'), LABELS.index('without_mask')]] = 0.5
    p[2, LABELS.index('without_mask')] = 0.9; p[2, LABELS.index('mask_weared_incorrect')] = 0.1
    np.testing.assert_allclose(label_confidence(p), [1.0, 0.5, 0.9])


def test_refiner_reads_again_and_skips_boxes_that_cannot_pass(finder):
    "Three reads give each box the mean of three face probabilities; dropping the boxes whose first read cannot reach a mean of `min_conf` changes nothing at or above it."
    from mask_detection.finder import nms
    from mask_detection.refiner import refine_boxes, refine_repeatedly, shipped_refiner, REFINER_NMS
    refiner = shipped_refiner()
    img = np.asarray(Image.open(sample_dir()/'images'/'maksssksksss1.png').convert('RGB'))
    boxes = SHIPPED_CORRECTION(finder(img)[0])
    once, conf = refine_boxes(img, boxes, refiner)
    keep = nms(once, conf, REFINER_NMS)
    b1, c1 = refine_repeatedly(img, boxes, refiner, passes=1)
    np.testing.assert_allclose(c1, conf[keep], atol=1e-6)
    b3, c3 = refine_repeatedly(img, boxes, refiner, passes=3)
    h, w = img.shape[:2]
    b, total = b1, c1.astype(float)
    for _ in range(2):   # the two later reads, by hand: each where the last moved the box
        b, c = refine_boxes(img, b, refiner)
        b, total = np.clip(b, 0, [w, h, w, h]), total + c
    mean = total / 3
    assert 0 < len(b3) <= len(b1)
    for box, p in zip(b3, c3):   # every box kept is one of the hand-read boxes, with its mean probability
        k = np.abs(b - box).max(1).argmin()
        np.testing.assert_allclose(b[k], box, atol=1e-3); assert abs(mean[k] - p) < 1e-5
    assert not np.allclose(np.sort(c3), np.sort(c1)[-len(c3):])   # the later reads change the probabilities
    bt, ct = refine_repeatedly(img, boxes, refiner, passes=3, min_conf=0.7)
    high = c3 >= 0.7
    assert high.sum() >= 3 and (ct >= 0.7).sum() == high.sum()
    np.testing.assert_allclose(np.sort(ct[ct >= 0.7]), np.sort(c3[high]), atol=1e-5)
    assert len(ct) < len(c3)   # boxes that cannot pass are not read again


def test_unusable_refiner_file_is_named(tmp_path):
    from mask_detection.refiner import load_refiner
    bad = tmp_path/'refiner.keras'
    bad.write_bytes(b'not a zip')
    with pytest.raises(DataError, match=r'refiner\.keras: not a loadable box refiner'):
        load_refiner(bad)


@pytest.mark.skipif(not FULL_DATA.is_dir(), reason='needs the full dataset beside the checkout')
def test_shipped_detector_on_heldout_photos(finder):
    "`detect` with the shipped models on the held-out photos, which nothing it ships was trained or tuned on (chapter 15's numbers)."
    from mask_detection.scoring import evaluate_detections
    from mask_detection.heldout import heldout_photos
    data = find_data(FULL_DATA, verbose=False)
    faces, _ = read_annotations(data)
    names = heldout_photos()
    dets = detect([data.images/n for n in names], finder=finder)
    dets['file'] = dets.file.map(lambda f: Path(f).name)
    truth = faces[faces.file.isin(names)]
    tp, found = match_detections(dets, truth, by_class=False)
    assert found.mean() >= 0.72 and tp.mean() >= 0.80, (found.mean(), tp.mean())
    s = evaluate_detections(dets, truth)
    assert s['mAP50'] >= 0.55 and s['face recall'] == found.mean(), s


def test_figures_of_chapter_15_are_legible():
    "The precision-recall legend is at least 12 pixels tall as drawn, and Figure 15.2 shows its photos at least 400 pixels wide each (both were thumbnails)."
    import base64, json, matplotlib
    matplotlib.use('Agg')
    from mask_detection.scoring import plot_pr
    t = pd.DataFrame(dict(file='a', xmin=[0, 50], ymin=0, xmax=[10, 60], ymax=10, label=['with_mask', 'without_mask']))
    fig = plot_pr(t.assign(score=[0.9, 0.8]), t)
    size = fig.axes[0].get_legend().get_texts()[0].get_fontsize() * fig.dpi / 72
    assert size >= 12, f'legend text {size:.1f} px tall'
    nb = json.loads((Path(__file__).parents[1]/'nbs'/'15e_detection.ipynb').read_text(encoding='utf-8'))
    cell = next(c for c in nb['cells'] if 'Figure 15.2' in ''.join(c['source']) and c['cell_type'] == 'code')
    jpeg = next(o['data']['image/jpeg'] for o in cell['outputs'] if 'image/jpeg' in o.get('data', {}))
    width = Image.open(io.BytesIO(base64.b64decode(jpeg))).width
    assert width >= 800, f'Figure 15.2 is {width} px wide for its photos, two to a row'


STAGES = {'finder': 'FaceFinder', 'refiner': 'refine_repeatedly', 'verifier': 'FaceVerifier', 'scoring': 'voc_ap'}


def test_each_stage_is_a_module_of_its_own():
    "Chapter 15's stages import without the pipeline module, each defines its own names, and `detect` defines none of them (it may name them, as it uses them)."
    import subprocess, sys, importlib, inspect
    code = 'import sys; ' + '; '.join(f'import mask_detection.{m}' for m in STAGES) + "; print('mask_detection.detect' in sys.modules)"
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip() == 'False'
    detect = importlib.import_module('mask_detection.detect')
    for module, name in STAGES.items():
        stage = importlib.import_module(f'mask_detection.{module}')
        assert name in stage.__all__ and inspect.getmodule(getattr(stage, name)) is stage, (module, name)
        assert not set(stage.__all__) & set(detect.__all__), f'detect.__all__ repeats names of {module}'
