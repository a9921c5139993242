"""Time and peak memory of the README's test command, phase by phase, on this machine.

Runs the two test phases of the README's command (`tools/nbtest.py`, then `pytest tests`) from the
checkout, each as it is written in README.md, and samples the memory of the whole process tree
every half second: the sum of each process's proportional set size (PSS, so that pages shared
between processes count once). The lines each phase prints are kept with their
time, so a peak can be put down to the notebook or test that was running.

    python benchmarks/test_suite.py [--out benchmarks/test_suite.csv] [--log DIR]

Writes one row per phase and one for the whole (seconds, peak GiB, the notebook or test running
at the peak), each notebook's seconds and peak beside it (`test_suite_notebooks.csv`, which
`tools/nbtest.py` reads to start the longest first), and with --log the timed output and the memory
trace of each phase.
"""
import argparse
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent


def readme_phases(readme=ROOT/'README.md') -> list:
    "The test phases of the README's test command (the second line of the first sh block under 'For developers')."
    text = readme.read_text()
    block = re.search(r'^## For developers\n.*?^```sh\n(.*?)^```', text, re.S | re.M).group(1)
    cmd = block.splitlines()[1]
    parts = [p.strip() for p in cmd.split('&&')]
    return [p for p in parts if re.search(r'\b(nbtest|nbdev_test|pytest)\b', p)]


def tree_pss(proc:psutil.Process) -> int:
    "Bytes held by a process and all its descendants (PSS where the kernel gives it, else RSS)."
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            info = p.memory_full_info()
            total += getattr(info, 'pss', info.rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied): pass
    return total


def run_phase(cmd:str, every:float=0.5) -> dict:
    "Run one phase in a shell; its wall time, memory trace and timed output lines."
    t0 = time.monotonic()
    env = {**os.environ, 'MASK_DETECTION_SUITE_BENCHMARK': '1'}   # the budget test waits for this run's results
    proc = subprocess.Popen(['bash', '-c', cmd], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, env=env)
    lines, trace = [], []
    def read():
        for line in proc.stdout:
            lines.append((time.monotonic() - t0, line.rstrip('\n')))
            sys.stdout.write(line); sys.stdout.flush()
    reader = threading.Thread(target=read, daemon=True); reader.start()
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        trace.append((time.monotonic() - t0, tree_pss(ps)))
        time.sleep(every)
    reader.join()
    return dict(cmd=cmd, rc=proc.returncode, seconds=time.monotonic() - t0, lines=lines,
                trace=pd.DataFrame(trace, columns=['t', 'bytes']))


def running_at(lines:list, t:float) -> str:
    "What the phase was doing at time t: the first notebook running then (tools/nbtest.py, or nbdev_test --do_print), else the test file pytest was in."
    for when, line in lines:   # tools/nbtest.py: a line per notebook as it ends, with its seconds
        m = re.match(r'\[\s*\d+/\d+\] (?:ok|FAIL)\s+(\S+)\s+(\d+) s', line)
        if m and when - int(m.group(2)) - 1 <= t <= when: return m.group(1)
    started = {}
    for when, line in lines:
        if when > t: break
        m = re.match(r'Starting (\S+)', line)
        if m: started[Path(m.group(1)).name] = when
        m = re.match(r'- Completed (\S+)', line)
        if m: started.pop(Path(m.group(1)).name, None)
    if started: return ' + '.join(started)
    after = [l for when, l in lines if when > t and re.match(r'tests/\S+', l)]   # pytest ends a file's line when its last test ends
    return after[0].split(' ')[0] if after else ''


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'test_suite.csv'))
    ap.add_argument('--log', default=None, help='folder for each phase output and memory trace')
    args = ap.parse_args()
    rows, t_all, peak_all, nb_lines = [], 0.0, (0, ''), []
    for cmd in readme_phases():
        r = run_phase(cmd)
        tr = r['trace']
        name = re.search(r'(nbtest|nbdev_test|pytest)', cmd).group(1)
        if name == 'nbtest': nb_lines = r['lines']
        if args.log:
            log = Path(args.log); log.mkdir(parents=True, exist_ok=True)
            (log/f'{name}.log').write_text(''.join(f'{t:8.1f} {l}\n' for t, l in r['lines']))
            tr.assign(gib=tr.bytes / 2**30).round(2).to_csv(log/f'{name}_memory.csv', index=False)
        if r['rc'] != 0: sys.exit(f'{cmd!r} failed (exit {r["rc"]})')
        at = tr.loc[tr.bytes.idxmax()] if len(tr) else pd.Series(dict(t=0, bytes=0))
        what = running_at(r['lines'], at.t)
        rows.append(dict(phase=name, command=cmd, seconds=round(r['seconds']),
                         peak_gib=round(at.bytes / 2**30, 2), at_peak=what, cores=os.cpu_count()))
        t_all += r['seconds']
        if at.bytes > peak_all[0]: peak_all = (at.bytes, what)
    rows.append(dict(phase='all', command=' && '.join(readme_phases()), seconds=round(t_all),
                     peak_gib=round(peak_all[0] / 2**30, 2), at_peak=peak_all[1], cores=os.cpu_count()))
    per_nb = [dict(notebook=m.group(1), seconds=int(m.group(2)), peak_gib=float(m.group(3)))
              for _, l in nb_lines if (m := re.match(r'\[\s*\d+/\d+\] ok\s+(\S+)\s+(\d+) s\s+([\d.]+) GiB', l))]
    if per_nb:   # tools/nbtest.py starts the longest first from these
        pd.DataFrame(per_nb).sort_values('seconds', ascending=False).to_csv(Path(args.out).with_name('test_suite_notebooks.csv'), index=False)
    out = pd.DataFrame(rows)
    out.to_csv(args.out, index=False)
    print(out.drop(columns='command').to_string(index=False))
