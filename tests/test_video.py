"`detect` on videos (chapter 17): the tables' schemas, tracking on a clip with known motion, interrupt and resume, bad inputs, a folder mixing photos and videos."
import os
import shutil
import signal
import subprocess
import time

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import CLI, run_cli, run_main
from mask_detection.data import DataError, sample_dir
from mask_detection.video import (TRACK_COLUMNS, VIDEO_COLUMNS, VIDEO_COUNT_COLUMNS, IoUTracker, detect_video, open_video,
                                  sample_clip)

ENV = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    "Three sample photos panned at 40 px/s, 5 s at 12 frames per second."
    return sample_clip(tmp_path_factory.mktemp('clip')/'clip.mp4', fps=12, seconds=5)


@pytest.fixture(scope='module')
def whole(clip, tmp_path_factory):
    "The command on the clip, never interrupted."
    out = tmp_path_factory.mktemp('whole')
    r = run_cli('detect', clip, '--out', out)
    assert r.returncode == 0, r.stderr
    return out


def test_tables_and_annotated_video(clip, whole):
    dets, tracks, counts = (pd.read_csv(whole/f) for f in ('detections.csv', 'tracks.csv', 'counts.csv'))
    assert list(dets.columns) == VIDEO_COLUMNS and list(tracks.columns) == TRACK_COLUMNS and list(counts.columns) == VIDEO_COUNT_COLUMNS
    assert dets.frame.min() == 0 and dets.frame.max() == 59
    assert np.allclose(dets.time_s, dets.frame / 12, atol=1e-3)
    assert set(dets.track) == set(tracks.track) and tracks.track.is_unique
    assert set(tracks.label) <= {'with_mask', 'without_mask', 'mask_weared_incorrect'}
    # one label per person: every row of a track carries the track's label
    assert (dets.groupby('track').label.nunique() == 1).all()
    assert (dets.groupby('track').label.first() == tracks.set_index('track').label).all()
    # people, not face-frames: a second counts each track once
    assert counts.second.tolist() == list(range(5))
    per = dets.assign(second=dets.time_s.astype(int)).groupby('second').track.nunique()
    assert (counts[['masked', 'unmasked', 'incorrect']].sum(axis=1).to_numpy() == per.to_numpy()).all()
    assert len(tracks) < len(dets) / 5
    cap, fps = open_video(whole/'annotated.mp4')
    assert fps == 12 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60 and (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)
    cap.release()


def test_tracks_follow_the_known_motion(whole):
    "The clip pans each photo at 40 px/s (40/12 px a frame) for 20 frames: between detected frames each face moves by that much, and a face found on every detected frame of its photo keeps one track."
    from mask_detection.video import DETECT_EVERY
    dets = pd.read_csv(whole/'detections.csv')
    keys = dets[dets.frame % DETECT_EVERY == 0].assign(x=lambda d: (d.xmin + d.xmax) / 2)
    steps = [np.median(np.diff(g.x.to_numpy()) / np.diff(g.frame.to_numpy())) for _, g in keys.groupby('track') if len(g) >= 3]
    assert len(steps) >= 4
    assert all(abs(v + 40 / 12) < 1.0 for v in steps), steps          # the photo moves left
    first = keys[keys.frame < 20]                                      # the first photo: detected frames 0, 6, 12, 18
    whole_run = first.groupby('track').frame.nunique()
    assert (whole_run == 4).sum() >= 3                                 # its bigger faces are one track each over all four
    assert dets.groupby(['track', 'frame']).size().max() == 1          # a track has one box per frame


def test_tracker_links_by_overlap_and_survives_a_missed_frame():
    tr = IoUTracker(iou=0.3, patience=1)
    p = np.array([[0.9, 0.05, 0.05]])
    ids = [tr.update(k, np.array([[10 + 5 * k, 10, 50 + 5 * k, 50]], float), p)[0].id for k in (0, 1, 3, 4)]
    assert ids == [0, 0, 0, 0]                                   # frame 2 (a miss) is not a detected frame here
    tr.update(5, np.zeros((0, 4)), np.zeros((0, 3))); tr.update(6, np.zeros((0, 4)), np.zeros((0, 3)))
    assert tr.update(7, np.array([[35, 10, 75, 50]], float), p)[0].id == 1   # unseen for two detected frames: a new person


def test_resumes_after_a_kill_with_the_same_tables(clip, whole, tmp_path):
    out = tmp_path/'killed'
    p = subprocess.Popen([CLI, 'detect', str(clip), '--out', str(out)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        ledger = out/'keyframes.csv'
        if ledger.is_file() and len(ledger.read_text().splitlines()) >= 4: break   # three detected frames committed
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (out/'tracks.csv').exists()
    r = run_cli('detect', clip, '--out', out)
    assert r.returncode == 0, r.stderr
    assert 'of its detected frames kept from an earlier run' in r.stdout
    for f in ('detections.csv', 'tracks.csv', 'counts.csv'):
        pd.testing.assert_frame_equal(pd.read_csv(out/f), pd.read_csv(whole/f))
    assert not list(out.glob('.tmp.*'))


def test_bad_videos_are_named_in_one_line(clip, tmp_path):
    (tmp_path/'notes.mp4').write_text('not a video')
    cut = tmp_path/'cut.mp4'; cut.write_bytes(clip.read_bytes()[:len(clip.read_bytes()) // 2])
    empty = tmp_path/'empty.avi'
    w = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 48)); w.release()
    for run, f, words in ((run_main, 'notes.mp4', 'cannot open as a video'), (run_cli, 'cut.mp4', 'cannot open as a video'), (run_main, 'empty.avi', '')):
        r = run('detect', tmp_path/f, '--out', tmp_path/f'out-{f}')   # the cut file in a process of its own: FFmpeg's C log lines would show there
        assert r.returncode == 1 and f in r.stderr and words in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and 'Traceback' not in r.stderr, r.stderr
    with pytest.raises(DataError, match='camera 7: does not open'): open_video(7)
    r = run_main('detect', '--camera', '7', '--out', tmp_path/'cam')
    assert r.returncode == 1 and r.stderr.strip() == 'mask-detection detect: error: camera 7: does not open'


def test_a_video_that_ends_early_keeps_what_was_read(clip, tmp_path):
    "Frames cut from the end of the stream (a copy stopped half-way, the container still whole): named, the rest kept."
    cap, fps = open_video(clip)
    short = tmp_path/'short.avi'
    w = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*'MJPG'), fps, (640, 480))
    for _ in range(20): w.write(cap.read()[1])
    w.release(); cap.release()
    said = []
    s = detect_video(short, tmp_path/'out', on_error=lambda src, msg: said.append(msg))
    assert s['frames'] == 20 and not said
    data = bytearray(short.read_bytes()); cutat = len(data) * 2 // 3
    (tmp_path/'cut.avi').write_bytes(bytes(data[:cutat]))
    s = detect_video(tmp_path/'cut.avi', tmp_path/'out-cut', on_error=lambda src, msg: said.append(msg))
    assert 0 < s['frames'] < 20 and len(said) == 1 and 'cut.avi: ended after' in said[0]
    assert pd.read_csv(tmp_path/'out-cut'/'detections.csv').frame.max() == s['frames'] - 1


def test_a_folder_mixing_photos_and_videos(clip, tmp_path):
    d = tmp_path/'holiday'; d.mkdir()
    shutil.copy(clip, d/'clip.mp4'); shutil.copy(sample_dir()/'images'/'maksssksksss1.png', d/'photo.png')
    sample_clip(d/'second.avi', fps=6, seconds=1)
    r = run_cli('detect', d, '--out', tmp_path/'found')
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path/'found'/'counts.csv')) == 1                     # the photo
    videos = sorted(p.name.split('.')[0] for p in (tmp_path/'found'/'videos').iterdir())
    assert videos == ['clip', 'second']
    for v in (tmp_path/'found'/'videos').iterdir():
        assert {'detections.csv', 'tracks.csv', 'counts.csv', 'annotated.mp4'} <= {p.name for p in v.iterdir()}
