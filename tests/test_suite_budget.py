"""What keeps the README's test command inside its budget (4 GB, 20 minutes on 2 cores), and the benchmark that measures it.

- chapter 9.1 shows the three models from `shapes_only`: the report's parameter counts with no weights
  in memory (building `cnn3` for real peaks at 6.7 GB while Keras fills its 520 M weights);
- `benchmarks/test_suite.py` runs the phases the README names, and its last results stay in budget.
"""
import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PEAK = r'''
import resource, sys
import keras
from mask_detection.models import shapes_only
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
models = shapes_only('cnn1', 'cnn2', 'cnn3')
models['cnn3'].summary(print_fn=lambda *a, **k: None)
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20
print([m.count_params() for m in models.values()], round(grown, 2))
'''


def test_shapes_only_counts_the_report_parameters_without_the_weights():
    out = subprocess.run([sys.executable, '-c', PEAK], capture_output=True, text=True, check=True,
                         env={'TF_CPP_MIN_LOG_LEVEL': '3', 'PATH': '/usr/bin:/bin'}).stdout.split('\n')[-2]
    counts, grown = out.rsplit(' ', 1)
    assert counts == '[8620441, 19691695, 520244417]', counts   # the report's counts
    assert float(grown) < 0.5, f'building the models for their shapes grew the process by {grown} GiB'


def _bench():
    spec = importlib.util.spec_from_file_location('test_suite_bench', ROOT/'benchmarks'/'test_suite.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_benchmark_runs_the_readme_phases():
    phases = _bench().readme_phases()
    assert len(phases) == 2 and 'tools/nbtest.py' in phases[0] and 'pytest tests' in phases[1], phases


def test_benchmark_puts_a_peak_down_to_what_ran():
    running_at = _bench().running_at
    lines = [(1.0, 'Starting /x/nbs/01_problem.ipynb'), (2.0, 'Starting /x/nbs/02_cnn_intro.ipynb'),
             (3.0, '- Completed /x/nbs/01_problem.ipynb'), (9.0, '- Completed /x/nbs/02_cnn_intro.ipynb')]
    assert running_at(lines, 2.5) == '01_problem.ipynb + 02_cnn_intro.ipynb'
    assert running_at(lines, 4.0) == '02_cnn_intro.ipynb'
    ends = [(10.0, '[ 1/24] ok   01_problem.ipynb      3 s   0.8 GiB peak'), (40.0, '[ 2/24] ok   07_cropping.ipynb    35 s   1.4 GiB peak')]
    assert running_at(ends, 8.5) == '01_problem.ipynb'
    assert running_at(ends, 20.0) == '07_cropping.ipynb'
    tests = [(0.5, 'platform linux'), (1.0, 'tests/test_a.py ....   [ 10%]'), (5.0, 'tests/test_b.py ..   [ 20%]')]
    assert running_at(tests, 3.0) == 'tests/test_b.py'
    assert running_at(tests, 0.7) == 'tests/test_a.py'


@pytest.mark.skipif(bool(os.environ.get('MASK_DETECTION_SUITE_BENCHMARK')), reason='this run is the measurement: its results are not written yet')
def test_last_measured_suite_is_in_budget():
    with open(ROOT/'benchmarks'/'test_suite.csv', newline='') as f: rows = {r['phase']: r for r in csv.DictReader(f)}
    assert set(rows) >= {'nbtest', 'pytest', 'all'}
    assert float(rows['all']['peak_gib']) < 4, rows['all']
    assert int(rows['all']['seconds']) < 20 * 60, rows['all']


def _nbtest():
    spec = importlib.util.spec_from_file_location('nbtest_tool', ROOT/'tools'/'nbtest.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_notebooks_start_longest_first_and_only_where_their_memory_fits():
    nbt = _nbtest()
    files = [Path(n) for n in ('a.ipynb', 'b.ipynb', 'c.ipynb', 'new.ipynb')]
    last = {'a.ipynb': (10, 2.0), 'b.ipynb': (100, 0.8), 'c.ipynb': (50, 2.1)}
    order = nbt.longest_first(files, last)
    assert [f.name for f in order] == ['new.ipynb', 'b.ipynb', 'c.ipynb', 'a.ipynb']
    assert nbt.next_fitting(order, [0.8], last, 3.0).name == 'new.ipynb'        # unknown: 1 GiB
    assert nbt.next_fitting(order[2:], [2.0], last, 3.0) is None               # 2.1 and 2.0 do not fit in 3
    assert nbt.next_fitting(order[2:], [0.8], last, 3.0).name == 'c.ipynb'
    assert nbt.notebooks() and all(f.suffix == '.ipynb' and not f.name.startswith('_') for f in nbt.notebooks())


def test_a_failing_notebook_fails_the_run_with_its_traceback(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('x = 1'), nbformat.v4.new_code_cell('assert x == 2, "x is not two"'),
                nbformat.v4.new_code_cell('#| slow\nraise SystemExit("a slow cell is skipped")')]
    nbformat.write(nb, tmp_path/'fails.ipynb')
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('#| slow\nassert False')]), tmp_path/'slow_only.ipynb')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'nbtest.py'), '--path', str(tmp_path/'*.ipynb')],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1, r.stdout
    assert 'x is not two' in r.stderr and 'FAIL fails.ipynb' in r.stdout and 'ok   slow_only.ipynb' in r.stdout, r.stdout
    assert '1 passed, 1 failed' in r.stdout
