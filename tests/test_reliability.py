"Issue 9's promises, tested on real processes: bad files named, kills at every write resumed, untrusted models refused."
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import FULL_DATA, ROOT, run_cli
from mask_detection.data import sample_dir
from mask_detection.reliability import file_digests, plant_bad_files, run_killed
from mask_detection.pipeline import load_split


def no_traceback(r):
    return 'Traceback' not in r.stderr and 'Traceback' not in r.stdout


def check_bad_cases_named(out, expected):
    problems = pd.read_csv(out/'problems.csv')
    named = problems.drop_duplicates('file').set_index('file').problem
    for f, words in expected.items():
        assert f in named.index, f"{f} not in problems.csv"
        assert words in named[f], (f, named[f])
    assert problems.action[problems.file == 'zz_past_border.xml'].tolist() == ['box clamped']
    split = load_split(out/'split.csv')
    crops = sorted(p.name for p in (out/'crops').glob('*.png'))
    assert sorted(split.file) == crops
    return problems, split


def test_every_bad_case_is_named_and_the_rest_goes_on(tmp_path, sample_copy):
    expected, repaired = plant_bad_files(sample_copy)
    r = run_cli('prepare', '--data', sample_copy, '--out', tmp_path/'out', '--quiet')
    assert r.returncode == 0, r.stderr
    assert no_traceback(r)
    problems, split = check_bad_cases_named(tmp_path/'out', expected)
    assert f'{len(problems) - 1} problems, 1 boxes clamped' in r.stdout
    # the 16-bit photo is scaled, not clipped: it reads like the 8-bit photo it came from
    assert np.asarray(Image.open(sample_copy/'images'/'zz_gray16.png')).max() > 255
    from mask_detection.data import load_photo
    assert abs(load_photo(sample_copy/'images'/'zz_gray16.png').mean() -
               np.asarray(Image.open(sample_copy/'images'/'maksssksksss1.png').convert('L')).mean()) < 0.5


@pytest.mark.skipif(not FULL_DATA.is_dir(), reason='needs the full dataset beside the checkout')
def test_real_photos_mixed_with_every_bad_case(tmp_path):
    "The 853 real photos (linked, not copied) beside every bad case: a complete split, each bad file named, no traceback."
    data = tmp_path/'mixed'
    for d in ('images', 'annotations'):
        (data/d).mkdir(parents=True)
        for p in (FULL_DATA/d).iterdir(): (data/d/p.name).symlink_to(p)
    for d, ext in (('images', 'png'), ('annotations', 'xml')):      # the template is the sample's copy, writable
        (data/d/f'maksssksksss1.{ext}').unlink()
        shutil.copy(sample_dir()/d/f'maksssksksss1.{ext}', data/d)
    expected, repaired = plant_bad_files(data)
    r = run_cli('prepare', '--data', data, '--out', tmp_path/'out', '--quiet')
    assert r.returncode == 0, r.stderr
    assert no_traceback(r)
    problems, split = check_bad_cases_named(tmp_path/'out', expected)
    assert len(split) >= 4072                         # every real face, plus the faces of the readable bad copies
    assert len(problems[problems.action == 'box clamped']) == 12 + 1


def four_photos(root):
    for d in ('images', 'annotations'): (root/d).mkdir(parents=True)
    for stem in ('maksssksksss1', 'maksssksksss145', 'maksssksksss302', 'maksssksksss94'):
        shutil.copy(sample_dir()/'images'/f'{stem}.png', root/'images')
        shutil.copy(sample_dir()/'annotations'/f'{stem}.xml', root/'annotations')
    return root


def each_k(check, n:int, at_once:int=2) -> list:
    "`check(k)` for k = 1..n, `at_once` runs side by side (each kills and resumes processes of its own); their results in order, the first failure raised."
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(at_once) as pool: return list(pool.map(check, range(1, n + 1)))


def test_prepare_killed_at_every_write_resumes_to_the_same_files(tmp_path):
    data = four_photos(tmp_path/'data')
    args = lambda out: ['prepare', '--data', data, '--out', out, '--size', 64, '--quiet']
    assert run_killed(args(tmp_path/'whole'), count_file=tmp_path/'n').returncode == 0
    n = int((tmp_path/'n').read_text())
    reference = file_digests(tmp_path/'whole')
    assert n >= len(reference) and 'split.csv.check' in reference and 'crops/manifest.csv' in reference
    def kill_and_resume(k):   # each k in a folder of its own: two at a time
        out = tmp_path/f'k{k}'
        killed = run_killed(args(out), kill_at=k)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert list(out.rglob('.tmp.*')), f"k={k}: the kill left no temporary"
        resumed = run_killed(args(out))
        assert resumed.returncode == 0, resumed.stderr
        assert file_digests(out) == reference, f"k={k}"
        assert not list(out.rglob('.tmp.*'))
    each_k(kill_and_resume, n)


def test_train_killed_at_every_write_resumes_with_the_same_history(tmp_path):
    from mask_detection.train import load_model, read_state
    assert run_cli('prepare', '--sample', '--out', tmp_path/'prep', '--size', 32, '--quiet').returncode == 0
    args = lambda out, *more: ['train', '--model', 'cnn2', '--prepared', tmp_path/'prep', '--out', out, '--epochs', 2,
                               '--image-size', 32, '--limit', 32, '--batch-size', 16, '--quiet', *more]
    assert run_killed(args(tmp_path/'whole'), count_file=tmp_path/'n').returncode == 0
    n = int((tmp_path/'n').read_text())
    whole = pd.read_csv(tmp_path/'whole'/'history.csv')
    files = sorted(p.name for p in (tmp_path/'whole').iterdir())
    assert files == ['best.keras', 'config.csv', 'history.csv', 'state.json']
    def kill_and_resume(k):
        out = tmp_path/f'k{k}'
        killed = run_killed(args(out), kill_at=k)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        resumed = run_killed(args(out))
        assert resumed.returncode == 0, resumed.stderr
        h = pd.read_csv(out/'history.csv')
        assert h.epoch.tolist() == whole.epoch.tolist() and list(h.columns) == list(whole.columns), f"k={k}"
        assert read_state(out)['finished'] and sorted(p.name for p in out.iterdir()) == files, f"k={k}"
        return out
    for out in each_k(kill_and_resume, n): load_model(out/'best.keras')
    # a finished run is kept; another configuration is refused with one line saying what the folder holds
    best = (tmp_path/'whole'/'best.keras').read_bytes()
    again = run_cli(*args(tmp_path/'whole'))
    assert again.returncode == 0 and (tmp_path/'whole'/'best.keras').read_bytes() == best
    other = run_cli(*args(tmp_path/'whole')[:-1], '--batch-size', 8)
    assert other.returncode == 1 and len(other.stderr.strip().splitlines()) == 1
    assert 'holds a run of model cnn2, image_size 32, batch_size 16, limit 32' in other.stderr
    fresh = run_cli(*args(tmp_path/'whole'), '--overwrite', '--epochs', 1)
    assert fresh.returncode == 0 and len(pd.read_csv(tmp_path/'whole'/'history.csv')) == 1


def test_ctrl_c_is_one_line_130_and_the_rerun_resumes(tmp_path):
    data = tmp_path/'data'
    for d in ('images', 'annotations'): (data/d).mkdir(parents=True)
    for copy in range(8):                  # the sample eight times over: long enough to be interrupted
        for p in (sample_dir()/'images').glob('*.png'): (data/'images'/f'c{copy}_{p.name}').symlink_to(p)
        for p in (sample_dir()/'annotations').glob('*.xml'):
            (data/'annotations'/f'c{copy}_{p.name}').write_text(p.read_text().replace(f'{p.stem}.png', f'c{copy}_{p.stem}.png'))
    from conftest import CLI
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}
    # A shell without job control starts background commands with SIGINT ignored, and Python keeps it ignored:
    # restore the default so that the signal reaches `prepare` as a Ctrl-C would, however the tests were started.
    proc = subprocess.Popen([CLI, 'prepare', '--data', str(data), '--out', str(tmp_path/'out'), '--quiet'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path/'out'/'crops').glob('*.png'))) < 20: time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ['mask-detection prepare: interrupted; run the same command again to resume']
    r = run_cli('prepare', '--data', data, '--out', tmp_path/'out', '--quiet')
    assert r.returncode == 0, r.stderr
    assert ' kept' in r.stdout and not r.stdout.split(' crops written')[0].endswith(' 0')
    assert len(load_split(tmp_path/'out'/'split.csv')) == 8 * 86


def test_a_write_that_fails_names_the_file(tmp_path):
    "A file-size limit makes every big write fail for real (EFBIG, as ENOSPC would): one line naming the file."
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    from conftest import CLI
    r = subprocess.run([CLI, 'prepare', '--sample', '--out', str(tmp_path/'out'), '--quiet'], capture_output=True, text=True,
                       preexec_fn=limit, timeout=300)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'cannot write' in lines[0] and str(tmp_path/'out'/'crops') in lines[0], r.stderr
    assert 'File too large' in lines[0]


def test_a_corrupt_crop_is_named_not_a_tensorflow_traceback(tmp_path):
    assert run_cli('prepare', '--sample', '--out', tmp_path/'prep', '--size', 32, '--quiet').returncode == 0
    split = load_split(tmp_path/'prep'/'split.csv')
    victim = split[split.split == 'train'].sort_values('order').file.iloc[1]
    (tmp_path/'prep'/'crops'/victim).write_bytes(b'\x89PNG\r\n\x1a\n broken')
    r = run_cli('train', '--model', 'cnn2', '--prepared', tmp_path/'prep', '--out', tmp_path/'run', '--epochs', 1, '--image-size', 32)
    assert r.returncode == 1 and no_traceback(r)
    assert f'{victim}: corrupt crop' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli('prepare', '--sample', '--out', tmp_path/'prep', '--size', 32, '--quiet')
    assert '1 crops written, 85 kept' in r.stdout


def test_untrusted_model_files_are_refused_and_run_no_code(tmp_path):
    import keras, warnings
    assert run_cli('prepare', '--sample', '--out', tmp_path/'prep', '--size', 32, '--quiet').returncode == 0
    marker = tmp_path/'code-ran'
    leave_marker = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")   # code that would run on loading
    evil = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Lambda(leave_marker),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, activation='sigmoid')])
    evil.save(tmp_path/'lambda.keras')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); evil.save(tmp_path/'lambda.h5')
    marker.unlink()
    cases = [(['--model-file', tmp_path/'lambda.h5'], 'a legacy .h5 model file'),
             (['--model-file', tmp_path/'lambda.h5', '--allow-legacy-h5'], 'Lambda'),
             (['--model-file', tmp_path/'lambda.keras'], 'Lambda')]
    for args, words in cases:
        r = run_cli('evaluate', *args, '--prepared', tmp_path/'prep', '--limit', 4)
        assert r.returncode == 1 and no_traceback(r), r.stderr
        assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not marker.exists()


def test_keras_requirement_excludes_unsafe_versions():
    import configparser
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    assert 'keras>=3.12' in cfg['DEFAULT']['requirements'].split()
    from mask_detection.train import check_keras
    for v in ('3.0.0', '3.11.2'):
        with pytest.raises(RuntimeError, match='CVE-2025-9905'): check_keras(v)
    check_keras('3.12.0'); check_keras()
