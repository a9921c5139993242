"""`classify` and `detect` on a user's own files: read as a viewer shows them, never write over an input,
refuse hostile models before building them, bounded memory, each input once, resumable, early and fast
errors, one line per problem. Chapter 12's last section lists each promise with the test here that holds it."""
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import CLI, run_cli, run_main
from mask_detection.data import sample_dir

PHOTOS = sorted(p.name for p in (sample_dir()/'images').glob('*.png'))[:6]
ENV = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}


def sample_photo(name='maksssksksss1.png'):
    return Image.open(sample_dir()/'images'/name).convert('RGB')


def sideways(img, path, tag):
    "Save `img` as a phone does: pixels stored turned, with the EXIF orientation tag that turns them upright."
    turn = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[tag]
    exif = Image.Exif(); exif[0x0112] = tag
    img.transpose(turn).save(path, exif=exif, **({'quality': 95} if str(path).endswith('.jpg') else {}))


def run_measured(*args, cwd=None):
    "The console script's `main` in a child Python: (CompletedProcess, peak resident memory in MB, TensorFlow imported?)."
    code = ("import resource, sys\nfrom mask_detection.cli import main\ntry: rc = main(sys.argv[1:])\nexcept SystemExit as e: rc = e.code\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'tensorflow' in sys.modules, file=sys.stderr)\nsys.exit(rc)")
    r = subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=900)
    line = [l for l in r.stderr.splitlines() if l.startswith('PEAK ')][-1].split()
    r.stderr = '\n'.join(l for l in r.stderr.splitlines() if not l.startswith('PEAK ')) + '\n'
    return r, float(line[1]), line[2] == 'True'


@pytest.fixture(scope='module')
def faces(tmp_path_factory):
    "Six face images cut from the sample's photos."
    from mask_detection.annotations import read_annotations
    from mask_detection.classifier import FRAME, context_crop
    from mask_detection.data import find_data, load_photo
    out = tmp_path_factory.mktemp('faces')
    t, _ = read_annotations(find_data(sample=True, verbose=False))
    for i, f in t[(t.xmax - t.xmin) >= 24].head(6).iterrows():
        img = load_photo(sample_dir()/'images'/f.file)
        Image.fromarray(context_crop(img, (f.xmin, f.ymin, f.xmax, f.ymax), scale=FRAME, size=96)).save(out/f'face{i:03d}.png')
    return out


# 1. EXIF orientation

def test_phone_photos_are_read_upright_by_detect_classify_and_prepare(tmp_path, faces):
    photos = tmp_path/'photos'; photos.mkdir()
    up = sample_photo(); up.save(photos/'upright.jpg', quality=95)
    for tag in (6, 8): sideways(up, photos/f'phone{tag}.jpg', tag)
    r = run_main('detect', photos, '--out', tmp_path/'found')
    assert r.returncode == 0, r.stderr
    counts = pd.read_csv(tmp_path/'found'/'counts.csv', index_col='file')
    n = counts.sum(axis=1)
    assert n[str(photos/'upright.jpg')] >= 5
    assert abs(n[str(photos/'phone6.jpg')] - n[str(photos/'upright.jpg')]) <= 1 and abs(n[str(photos/'phone8.jpg')] - n[str(photos/'upright.jpg')]) <= 1
    shown = pd.read_csv(tmp_path/'found'/'photos.csv').set_index('file').drawn
    for name in ('phone6.jpg', 'phone8.jpg'):   # the drawn copy is upright: as wide as the photo a viewer shows
        assert Image.open(tmp_path/'found'/'drawn'/shown[str(photos/name)]).size == up.size
    # classify: a face stored sideways reads as the upright face does
    face = Image.open(sorted(faces.glob('*.png'))[0]).convert('RGB')
    face.save(tmp_path/'face-up.png'); sideways(face, tmp_path/'face-phone.png', 6)
    r = run_main('classify', tmp_path/'face-up.png', tmp_path/'face-phone.png')
    assert r.returncode == 0, r.stderr
    rows = pd.read_csv(pd.io.common.StringIO(r.stdout))
    assert rows.label.nunique() == 1 and abs(rows.probability[0] - rows.probability[1]) < 1e-3
    # prepare: the photo's crops are those of the upright photo
    data = tmp_path/'data'; shutil.copytree(sample_dir(), data)
    keep = ['maksssksksss1']
    for d, ext in (('images', '.png'), ('annotations', '.xml')):
        for p in (data/d).iterdir():
            if p.stem not in keep: p.unlink()
    crops = {}
    for name, turned in (('up', False), ('phone', True)):
        if turned: sideways(up, data/'images'/'maksssksksss1.png', 6)
        assert run_cli('prepare', '--data', data, '--out', tmp_path/name, '--size', 32, '--quiet').returncode in (0, 1)
        crops[name] = {p.name: np.asarray(Image.open(p)) for p in (tmp_path/name/'crops').glob('*.png')}
    assert crops['up'].keys() == crops['phone'].keys() and len(crops['up']) >= 5
    for k in crops['up']: assert np.array_equal(crops['up'][k], crops['phone'][k])


# 2. Outputs never replace inputs

def test_classify_never_writes_over_an_input_or_a_file_it_did_not_write(tmp_path, faces):
    folder = tmp_path/'faces'; shutil.copytree(faces, folder)
    victim = sorted(folder.glob('*.png'))[0]; before = victim.read_bytes()
    r = run_main('classify', folder, '--csv', victim)
    assert r.returncode == 1 and 'is one of the inputs' in r.stderr and victim.read_bytes() == before
    r = run_main('classify', folder, '--csv', victim, '--overwrite')
    assert r.returncode == 1 and victim.read_bytes() == before
    notes = tmp_path/'notes.txt'; notes.write_text('my notes\n')
    r = run_main('classify', folder, '--csv', notes)
    assert r.returncode == 1 and 'not written by this command' in r.stderr and notes.read_text() == 'my notes\n'
    assert run_main('classify', folder, '--csv', tmp_path/'labels.csv').returncode == 0
    assert run_main('classify', folder, '--csv', tmp_path/'labels.csv').returncode == 0          # its own table: replaced
    assert run_main('classify', folder, '--csv', notes, '--overwrite').returncode == 0           # anyone's, when asked
    assert len(pd.read_csv(notes)) == len(pd.read_csv(tmp_path/'labels.csv')) == 6
    theirs = tmp_path/'theirs'; theirs.mkdir(); (theirs/'counts.csv').write_text('name,total\n')   # detect's --out holding someone else's counts.csv
    r = run_main('detect', victim, '--out', theirs)
    assert r.returncode == 1 and 'not written by this command' in r.stderr and (theirs/'counts.csv').read_text() == 'name,total\n'
    assert run_main('detect', victim, '--out', theirs, '--overwrite').returncode == 0


# 3. Crafted models

def crafted(tmp_path, name, edit):
    "The shipped classifier's file with its config changed by `edit` (weights left as they are)."
    from mask_detection.classifier import shipped_model_path
    src = zipfile.ZipFile(shipped_model_path())
    config = json.loads(src.read('config.json')); edit(config)
    path = tmp_path/name
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for item in src.namelist(): z.writestr(item, json.dumps(config) if item == 'config.json' else src.read(item))
    return path


def test_models_are_checked_before_they_are_built(tmp_path, faces):
    import keras
    from keras import layers
    def huge(config):   # every dense layer of the network 60,000 wide (the mirror's, a permutation of the image's columns, kept)
        for layer in config['config']['layers']:
            if layer['class_name'] == 'Functional': huge(layer)
            elif layer['class_name'] == 'Dense' and layer['config']['name'] != 'mirror': layer['config']['units'] = 60000; layer.pop('build_config', None)
    big = crafted(tmp_path, 'huge.keras', huge)
    assert big.stat().st_size < 2_000_000
    face = sorted(faces.glob('*.png'))[0]
    r, peak, _ = run_measured('classify', face, '--model', big)
    assert r.returncode == 1 and 'declares 3,6' in r.stderr and 'weights, over the limit' in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and peak < 2500       # refused before a weight is allocated (it would take 14 GB)
    inp = keras.Input((64, 64, 3)); x = layers.GlobalAveragePooling2D()(inp)
    wrong = {'five.keras': layers.Dense(5, activation='softmax')(x), 'one.keras': layers.Dense(1, activation='sigmoid')(x),
             'logits.keras': layers.Dense(3)(x), 'two.keras': [layers.Dense(3, activation='softmax')(x)] * 2}
    for name, out in wrong.items():
        keras.Model(inp, out).save(tmp_path/name)
        for command in (['classify', face], ['detect', sample_dir()/'images'/'maksssksksss1.png', '--out', tmp_path/'found']):
            r = run_main(*command, '--model', tmp_path/name)
            assert r.returncode == 1 and 'a classifier outputs 3 softmax' in r.stderr, (name, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1 and 'Traceback' not in r.stderr
    from mask_detection.data import DataError
    from mask_detection.refiner import load_refiner
    keras.Model(inp, layers.Dense(3, activation='softmax')(x)).save(tmp_path/'ok.keras')
    with pytest.raises(DataError, match='a box refiner outputs face: 1 sigmoid, box: 4'): load_refiner(tmp_path/'ok.keras')


# 4. Bounded memory

def test_a_big_photo_is_drawn_at_a_bounded_size_and_memory(tmp_path):
    big = Image.new('RGB', (8000, 6000), (90, 120, 150))
    big.paste(sample_photo().resize((4000, 1560)), (2000, 2000))
    big.save(tmp_path/'big.png')
    r, peak, _ = run_measured('detect', tmp_path/'big.png', '--out', tmp_path/'found')
    assert r.returncode == 0, r.stderr
    drawn = next((tmp_path/'found'/'drawn').iterdir())
    assert max(Image.open(drawn).size) == 1600 and Image.open(drawn).size[0] / Image.open(drawn).size[1] == pytest.approx(8000 / 6000, 0.01)
    assert peak < 3000                       # was 6.3-6.6 GB while drawing at full size


def test_classify_memory_does_not_grow_with_the_number_of_images(tmp_path, faces):
    face = Image.open(sorted(faces.glob('*.png'))[0]).resize((32, 32))
    peaks = {}
    for n in (200, 2400):
        folder = tmp_path/f'n{n}'; folder.mkdir()
        for i in range(n): face.save(folder/f'{i:05d}.png', compress_level=0)
        r, peaks[n], _ = run_measured('classify', folder, '--csv', tmp_path/f'n{n}.csv', '--quiet')
        assert r.returncode == 0, r.stderr
        assert len(pd.read_csv(tmp_path/f'n{n}.csv')) == n
    assert peaks[2400] - peaks[200] < 120, peaks      # rows are written as batches finish (the whole table in memory grew ~165 KB an image)


# 5. Duplicates and name clashes

def test_each_photo_counted_once_and_drawn_copies_never_collide(tmp_path):
    a, b = tmp_path/'A', tmp_path/'B'; a.mkdir(); b.mkdir()
    sample_photo('maksssksksss1.png').save(a/'x.png'); sample_photo('maksssksksss145.png').save(b/'x.png')
    sample_photo(PHOTOS[2]).save(tmp_path/'a.png'); sample_photo(PHOTOS[3]).save(tmp_path/'a.jpg')
    (tmp_path/'link.png').symlink_to(a/'x.png')
    r = run_main('detect', a, a/'x.png', tmp_path/'link.png', b, tmp_path/'a.png', tmp_path/'a.jpg', '--out', tmp_path/'found')
    assert r.returncode == 0, r.stderr
    counts = pd.read_csv(tmp_path/'found'/'counts.csv')
    assert len(counts) == 4 and counts.file.is_unique
    drawn = sorted((tmp_path/'found'/'drawn').iterdir())
    assert len(drawn) == 4
    sizes = sorted(Image.open(p).size for p in drawn)
    assert sizes == sorted(sample_photo(n).size for n in ('maksssksksss1.png', 'maksssksksss145.png', PHOTOS[2], PHOTOS[3]))


# 6. Interrupts and reruns

def photos_folder(tmp_path, names=PHOTOS):
    d = tmp_path/'photos'; d.mkdir(exist_ok=True)
    for n in names: shutil.copy(sample_dir()/'images'/n, d/n)
    return d


def table(path):
    return pd.read_csv(path).sort_values(['file', 'xmin', 'ymin']).reset_index(drop=True)


def test_detect_resumes_after_a_kill_and_keeps_every_finished_photo(tmp_path):
    photos = photos_folder(tmp_path)
    assert run_main('detect', photos, '--out', tmp_path/'whole').returncode == 0
    out = tmp_path/'killed'
    p = subprocess.Popen([CLI, 'detect', str(photos), '--out', str(out)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        ledger = out/'photos.csv'
        if ledger.is_file() and len(ledger.read_text().splitlines()) >= 3: break   # header and two photos committed
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    committed = len(pd.read_csv(out/'photos.csv'))
    assert 2 <= committed < len(PHOTOS)
    r = run_main('detect', photos, '--out', out)
    assert r.returncode == 0, r.stderr
    assert f'({committed} kept from an earlier run)' in r.stdout
    pd.testing.assert_frame_equal(table(out/'detections.csv'), table(tmp_path/'whole'/'detections.csv'))
    pd.testing.assert_frame_equal(pd.read_csv(out/'counts.csv'), pd.read_csv(tmp_path/'whole'/'counts.csv'))
    assert sorted(q.name for q in (out/'drawn').iterdir()) == sorted(q.name for q in (tmp_path/'whole'/'drawn').iterdir())
    assert not [q for q in out.rglob('.tmp.*')]


def test_a_new_run_clears_what_it_does_not_write_and_redoes_changed_settings(tmp_path):
    photos = photos_folder(tmp_path, PHOTOS[:3])
    out = tmp_path/'found'
    assert run_main('detect', photos, '--out', out).returncode == 0
    r = run_main('detect', photos/PHOTOS[0], '--out', out)
    assert r.returncode == 0 and '(1 kept from an earlier run)' in r.stdout
    assert set(pd.read_csv(out/'counts.csv').file) == set(pd.read_csv(out/'detections.csv').file) == {str(photos/PHOTOS[0])}
    assert len(list((out/'drawn').iterdir())) == 1
    before = pd.read_csv(out/'detections.csv').score
    r = run_main('detect', photos/PHOTOS[0], '--out', out, '--min-score', '0.9')
    assert r.returncode == 0 and 'kept from an earlier run' not in r.stdout
    after = pd.read_csv(out/'detections.csv').score
    assert after.min() >= 0.9 and len(after) == (before >= 0.9).sum() < len(before)   # the photo was done again at the new threshold


def test_a_second_writer_on_the_same_folder_is_refused(tmp_path):
    from mask_detection.reliability import OutputLock
    out = tmp_path/'found'; out.mkdir()
    with OutputLock(out):
        r = run_cli('detect', sample_dir()/'images'/PHOTOS[0], '--out', out)
    assert r.returncode == 1 and f'another run (process {os.getpid()}) is writing there' in r.stderr
    assert not (out/'detections.csv').exists()


# 7. Early failures, fast start

@pytest.mark.parametrize('args, message', [
    (['--help'], None), (['detect'], 'the following arguments are required'), (['classify', '--help'], None),
])
def test_help_and_usage_errors_load_no_heavy_module(args, message):
    code = ("import sys\nfrom mask_detection.cli import main\ntry: main(sys.argv[1:])\nexcept SystemExit: pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'sklearn', 'pandas', 'matplotlib'}))")
    r = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == '[]'
    if message: assert message in r.stderr


def test_output_problems_are_found_before_any_work(tmp_path, faces):
    (tmp_path/'file').write_text('x')
    cases = [(['classify', faces, '--csv', tmp_path/'missing'/'labels.csv'], 'missing: no such folder'),
             (['classify', faces, '--csv', tmp_path/'file'/'labels.csv'], 'file: no such folder'),
             (['classify', faces, '--csv', '/proc/labels.csv'], '/proc: cannot write there'),
             (['classify', faces, '--csv', tmp_path], 'is a folder'),
             (['detect', faces, '--out', tmp_path/'file'], 'exists and is not a folder'),
             (['detect', tmp_path, '--out', tmp_path/'inside', '--recursive'], 'inside a folder read with --recursive')]
    for args, message in cases:
        r, _, tf_loaded = run_measured(*args)
        assert r.returncode == 1 and message in r.stderr, (args, r.stderr)
        assert not tf_loaded, args


# 8. Silence and consistency

def test_folder_entries_left_out_are_named_with_the_reason(tmp_path, faces):
    d = tmp_path/'mixed'; shutil.copytree(faces, d)
    (d/'dangling.png').symlink_to(tmp_path/'nowhere.png')
    (d/'loop.png').symlink_to(d/'loop.png')
    os.mkfifo(d/'pipe.png')
    (d/'notes.txt').write_text('x')
    (d/'more').mkdir(); shutil.copy(sorted(faces.glob('*.png'))[0], d/'more'/'deep.png')
    r = run_main('classify', d)
    assert r.returncode == 1                                # some inputs could not be read; the rest are classified
    said = r.stderr
    for name, why in (('dangling.png', 'a link to nothing'), ('loop.png', 'a link loop'), ('pipe.png', 'not a regular file'),
                      ('notes.txt', 'not an image file name'), ('more', 'a folder (--recursive')):
        assert f'{name}: {why}' in said, (name, said)
    assert len(pd.read_csv(pd.io.common.StringIO(r.stdout))) == 6
    r = run_main('classify', d, '--recursive')
    assert 'deep.png' in r.stdout and len(pd.read_csv(pd.io.common.StringIO(r.stdout))) == 7


def test_one_exit_status_rule_for_both_commands(tmp_path, faces):
    d = tmp_path/'in'; shutil.copytree(faces, d)
    for command in (['classify', d], ['detect', d, '--out', tmp_path/'found']):
        assert run_main(*command).returncode == 0
    (d/'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)
    for command in (['classify', d], ['detect', d, '--out', tmp_path/'found']):
        r = run_main(*command)
        assert r.returncode == 1 and 'broken.png' in r.stderr, command
    assert len(pd.read_csv(tmp_path/'found'/'counts.csv')) == 6
    (tmp_path/'empty').mkdir()
    for command in (['classify', tmp_path/'empty'], ['detect', tmp_path/'empty', '--out', tmp_path/'x']):
        r = run_main(*command)
        assert r.returncode == 1 and 'no image files in' in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_messages_name_the_file_on_one_line(tmp_path):
    odd = tmp_path/'two\nlines.png'; odd.write_bytes(b'not an image at all')
    for run, command in ((run_main, ['classify', odd]), (run_cli, ['detect', odd, '--out', tmp_path/'found'])):   # detect's in a process of its own: TensorFlow Lite's C++ log lines would show there
        r = run(*command)
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and 'two\\nlines.png: cannot decode image' in lines[0] and 'BytesIO' not in lines[0], lines
        assert 'XNNPACK' not in r.stderr


def test_a_full_disk_names_the_file():
    from mask_detection.reliability import RowWriter
    with pytest.raises(OSError, match='cannot write /dev/full: No space left on device'):
        with RowWriter('/dev/full', ['file', 'label']) as w: w.write([('a.png', 'with_mask')] * 1000)


def test_progress_bar_only_on_a_terminal_and_not_with_quiet(tmp_path, faces):
    def stderr_on_a_terminal(*args):
        import fcntl, struct, termios
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))   # a terminal 100 columns wide
        p = subprocess.Popen([CLI, *map(str, args)], stdout=subprocess.DEVNULL, stderr=follower, env=ENV)
        os.close(follower)
        chunks = []
        while True:
            try: chunk = os.read(leader, 4096)
            except OSError: break
            if not chunk: break
            chunks.append(chunk)
        p.wait(); os.close(leader)
        return b''.join(chunks).decode(errors='replace')
    assert 'detect: 100%' in stderr_on_a_terminal('detect', faces, '--out', tmp_path/'a')
    assert 'detect:' not in stderr_on_a_terminal('detect', faces, '--out', tmp_path/'b', '--quiet')
    assert 'classify: 100%' in stderr_on_a_terminal('classify', faces)
    assert '%|' not in run_main('detect', faces, '--out', tmp_path/'c').stderr    # not a terminal: no bar


def test_version():
    import mask_detection
    r = run_cli('--version')
    assert r.returncode == 0 and r.stdout.strip() == f'mask-detection {mask_detection.__version__}'
