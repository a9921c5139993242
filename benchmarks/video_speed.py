"""Frames per second of `detect_video` end to end (read, detect, track, write the tables and the annotated video) on a
640×480 clip made from the bundled sample photos, for several `every` (faces found on every N-th frame), what each costs
in faces kept against finding faces on every frame, and the process's memory over a long clip.

A face of the every-frame run counts as kept when the other run has a box on the same frame overlapping it by IoU 0.5
or more. The long clip (10 minutes by default) runs with `DETECT_EVERY`; a thread samples the resident memory every
2 seconds. TensorFlow and the face finder use the machine's cores as `detect` does. Results go to
mask_detection/video_speed.csv and mask_detection/video_memory.csv (installed with the package; chapters 16 and 17 show them).

    python benchmarks/video_speed.py [--seconds 20] [--every 1 3 6 10] [--long-minutes 10]
"""
import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def kept(base:pd.DataFrame, other:pd.DataFrame) -> float:
    "Share of `base`'s boxes that `other` has on the same frame at IoU ≥ 0.5."
    from mask_detection.finder import box_iou
    cols, hits = ['xmin', 'ymin', 'xmax', 'ymax'], 0
    by = dict(list(other.groupby('frame')))
    for f, g in base.groupby('frame'):
        if f in by: hits += int((box_iou(g[cols].to_numpy(float), by[f][cols].to_numpy(float)).max(1) >= 0.5).sum())
    return hits / max(len(base), 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seconds', type=float, default=20)
    p.add_argument('--every', type=int, nargs='+', default=[1, 3, 6, 10])
    p.add_argument('--long-minutes', type=float, default=10)
    a = p.parse_args()
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    from mask_detection.cli import _quiet_tensorflow
    _quiet_tensorflow()
    from mask_detection.video import DETECT_EVERY, detect_video, sample_clip
    machine = f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores'
    tmp = Path(tempfile.mkdtemp())
    clip = sample_clip(tmp/'clip.mp4', seconds=a.seconds, fps=15)
    detect_video(clip, tmp/'warm', max_frames=8)      # models loaded and warmed up
    rows, base = [], None
    for every in sorted(a.every):
        s = detect_video(clip, tmp/f'every{every}', every=every)
        dets = pd.read_csv(tmp/f'every{every}'/'detections.csv')
        if base is None and every == 1: base = dets
        rows.append(dict(every=every, frames=s['frames'], detected_frames=s['detected'], seconds=s['seconds'],
                         frames_per_s=round(s['frames'] / s['seconds'], 1), people=s['tracks'],
                         faces_kept_vs_every_frame=round(kept(base, dets), 3) if base is not None else None,
                         default=every == DETECT_EVERY, machine=machine))
        print(rows[-1], flush=True)
    pd.DataFrame(rows).to_csv(ROOT/'mask_detection'/'video_speed.csv', index=False)
    if a.long_minutes:
        # made in another process, so that the enlarged photos are not counted in this one's memory; a slow pan (400 px per photo)
        import subprocess, sys
        subprocess.run([sys.executable, '-c', f"from mask_detection.video import sample_clip; "
                        f"sample_clip({str(tmp/'long.mp4')!r}, seconds={60 * a.long_minutes}, fps=15, speed={400 / (20 * a.long_minutes)})"], check=True)
        long = tmp/'long.mp4'
        samples, done = [], threading.Event()
        t0 = time.perf_counter()
        def sample():
            while not done.is_set(): samples.append((time.perf_counter() - t0, rss_mb())); done.wait(2)
        th = threading.Thread(target=sample, daemon=True); th.start()
        s = detect_video(long, tmp/'long', every=DETECT_EVERY)
        done.set(); th.join()
        m = pd.DataFrame(samples, columns=['wall_s', 'rss_mb'])
        m['video_minute'] = (m.wall_s / s['seconds'] * a.long_minutes).round(2)
        m['rss_mb'] = m.rss_mb.round(0)
        m.to_csv(ROOT/'mask_detection'/'video_memory.csv', index=False)
        print(f"long clip: {s['frames']} frames in {s['seconds']:.0f} s ({s['frames'] / s['seconds']:.1f} frames/s); resident memory "
              f"{m.rss_mb.iloc[len(m) // 10]:.0f} MB at a tenth of the way, {m.rss_mb.max():.0f} MB at most, {m.rss_mb.iloc[-1]:.0f} MB at the end")


if __name__ == '__main__':
    main()
