"The `mask-detection` console script, run as a user runs it."
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from PIL import Image

from conftest import FULL_DATA, ROOT, run_cli


def files_under(path):
    return {p for p in path.rglob('*') if p.is_file()}


def test_help_for_every_command():
    for args in (['--help'], ['prepare', '--help'], ['train', '--help'], ['evaluate', '--help']):
        r = run_cli(*args)
        assert r.returncode == 0, r.stderr
        assert 'usage: mask-detection' in r.stdout


def test_prepare_on_sample_writes_only_under_out(tmp_path):
    work = tmp_path/'cwd'; work.mkdir()
    before = files_under(tmp_path)
    r = run_cli('prepare', '--sample', '--out', tmp_path/'out', '--quiet', cwd=work)
    assert r.returncode == 0, r.stderr
    assert '86 faces in 30 photos' in r.stdout
    new = files_under(tmp_path) - before
    assert all((tmp_path/'out') in p.parents for p in new)
    split = pd.read_csv(tmp_path/'out'/'split.csv')
    assert list(split.columns) == ['file', 'label_id', 'split']
    assert len(split) == 86 == len(list((tmp_path/'out'/'crops').glob('*.png')))
    assert (split.split == 'excluded').sum() == (split.label_id == 2).sum() == 10
    assert Image.open(tmp_path/'out'/'crops'/split.file[0]).size == (256, 256)


def test_prepare_resumes(tmp_path):
    out = tmp_path/'out'
    assert run_cli('prepare', '--sample', '--out', out, '--size', 32, '--quiet').returncode == 0
    victim = sorted((out/'crops').glob('*.png'))[3]
    victim.unlink()
    r = run_cli('prepare', '--sample', '--out', out, '--size', 32, '--quiet')
    assert r.returncode == 0, r.stderr
    assert '1 crops written, 85 kept' in r.stdout
    assert victim.exists()


def test_prepare_writes_the_same_bytes_with_one_worker_or_two(tmp_path):
    from mask_detection.reliability import file_digests
    for w in (1, 2):
        r = run_cli('prepare', '--sample', '--out', tmp_path/f'w{w}', '--size', 48, '--workers', w, '--quiet')
        assert r.returncode == 0, r.stderr
        assert '86 crops written' in r.stdout
    one, two = file_digests(tmp_path/'w1'), file_digests(tmp_path/'w2')
    assert one == two and len(one) == 86 + 4   # the crops, the manifest, split.csv, its check file, problems.csv
    assert 'crops/manifest.csv' in one


def test_bad_input_is_reported_and_the_rest_processed(tmp_path, sample_copy):
    ann, img = sample_copy/'annotations', sample_copy/'images'
    good = (ann/'maksssksksss1.xml').read_text()
    (ann/'maksssksksss1.xml').write_text(good[:150])                                   # malformed XML
    (ann/'maksssksksss94.xml').write_text((ann/'maksssksksss94.xml').read_text().replace('maksssksksss94.png', '../../secret.png'))
    (img/'maksssksksss44.png').write_bytes(b'\x89PNG\r\n\x1a\n not a png')              # corrupt PNG
    Image.open(img/'maksssksksss45.png').convert('L').save(img/'maksssksksss45.png')   # grayscale PNG
    out = tmp_path/'out'
    r = run_cli('prepare', '--data', sample_copy, '--out', out, '--quiet')
    assert r.returncode == 0, r.stderr
    problems = pd.read_csv(out/'problems.csv')
    text = ' | '.join(problems.problem)
    assert 'maksssksksss1.xml: malformed XML' in text
    assert "maksssksksss94.xml: <filename> '../../secret.png' points outside" in text
    assert 'maksssksksss44.png: cannot decode image' in text
    assert '/' not in problems.problem[problems.file == 'maksssksksss44.png'].iloc[0].split(':')[0]   # named, not a machine path
    split = pd.read_csv(out/'split.csv')
    assert len(split) == len(list((out/'crops').glob('*.png'))) > 60
    assert not (tmp_path/'secret.png').exists()


@pytest.mark.parametrize('args, message', [
    (['prepare', '--data', 'no/such/folder', '--out', 'x'], 'no such data folder'),
    (['train', '--model', 'cnn2', '--prepared', 'no/such/folder', '--out', 'x'], 'no/such/folder: no such folder'),
    (['train', '--model', 'cnn2', '--data', 'no/such/folder', '--out', 'x'], 'the following arguments are required: --prepared'),
    (['evaluate', '--model-file', 'no/model.keras', '--prepared', 'no/such/folder'], 'no/model.keras: no such model file'),
    (['prepare', '--sample', '--out', 'x', '--size', 'big'], 'must be an integer'),
    (['prepare', '--sample', '--out', 'x', '--workers', '0'], 'must be an integer of at least 1'),
    (['prepare', '--sample'], 'the following arguments are required: --out'),
    (['frobnicate'], 'invalid choice'),
])
def test_errors_are_one_line_and_nonzero(tmp_path, args, message):
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert message in r.stderr
    assert 'Traceback' not in r.stderr
    assert not (tmp_path/'x').exists()


@pytest.mark.skipif(not FULL_DATA.is_dir(), reason='needs the full dataset beside the checkout')
def test_prepare_full_data_reproduces_the_report(tmp_path):
    r = run_cli('prepare', '--data', FULL_DATA, '--out', tmp_path, '--quiet')
    assert r.returncode == 0, r.stderr
    split = pd.read_csv(tmp_path/'split.csv')
    assert len(split) == 4072 == len(list((tmp_path/'crops').glob('*.png')))
    counts = pd.crosstab(split.split, split.label_id)
    assert counts.loc['train', [0, 1]].tolist() == [2578, 581]
    assert counts.loc['dev', [0, 1]].tolist() == [327, 68]
    assert counts.loc['test', [0, 1]].tolist() == [327, 68]
    assert counts.loc['excluded', 2] == 123
    assert split.file.head().tolist() == ['0. 1.png', '1. 0.png', '10. 0.png', '100. 1.png', '1000. 0.png']


def test_prepare_without_data_looks_only_beside_the_checkout_and_says_sample_loudly(tmp_path):
    "A copy of the package outside any checkout, run below a planted shared/data folder: the sample, announced."
    shutil.copytree(ROOT/'mask_detection', tmp_path/'pkg'/'mask_detection', ignore=shutil.ignore_patterns('__pycache__'))
    planted = tmp_path/'shared'/'data'/'face-mask-detection'
    shutil.copytree(ROOT/'mask_detection'/'sample', planted)
    (planted/'annotations'/'maksssksksss1.xml').unlink()
    cwd = tmp_path/'deep'/'below'; cwd.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != 'MASK_DETECTION_DATA'}
    env['PYTHONPATH'] = str(tmp_path/'pkg')
    r = subprocess.run([sys.executable, '-c', 'import sys; from mask_detection.cli import main; sys.exit(main(sys.argv[1:]))',
                        'prepare', '--out', str(tmp_path/'out'), '--quiet'], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert 'using the bundled 30-photo SAMPLE' in r.stderr
    assert '86 faces in 30 photos' in r.stdout      # the planted copy has 29 photos


def test_evaluate_prints_class_names(tmp_path):
    out = tmp_path/'prep'
    assert run_cli('prepare', '--sample', '--out', out, '--size', 48, '--quiet').returncode == 0
    r = run_cli('train', '--model', 'cnn2', '--prepared', out, '--out', tmp_path/'run', '--epochs', 1, '--image-size', 32, '--limit', 32)
    assert r.returncode == 0, r.stderr
    assert '/1' in r.stdout or '/2' in r.stdout                      # the per-step progress bar
    assert 'oneDNN' not in r.stderr and 'cuda' not in r.stderr.lower()
    r = run_cli('evaluate', '--model-file', tmp_path/'run'/'best.keras', '--prepared', out, '--limit', 16)
    assert r.returncode == 0, r.stderr
    assert 'with_mask' in r.stdout and 'without_mask' in r.stdout
    assert pd.read_csv(tmp_path/'run'/'dev_confusion.csv', index_col=0).columns.tolist() == ['with_mask', 'without_mask']
    assert r.stderr.strip() == '', r.stderr
