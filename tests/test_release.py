"""The release: the workflow that publishes a tag, the test workflow, the install line, the changelog.

What a test can hold without running GitHub Actions: the workflow parses as YAML, runs on version
tags, checks the built wheel as Colab would before publishing, publishes with trusted publishing
(`id-token: write`, environment `pypi`) and attaches the shipped models and the site archive.
"""
import configparser
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT/'.github'/'workflows'


def load(name): return yaml.safe_load((WORKFLOWS/name).read_text(encoding='utf-8'))
def version():
    c = configparser.ConfigParser(); c.read(ROOT/'settings.ini'); return c['DEFAULT']['version']
def runs(job): return '\n'.join(s.get('run', '') for s in job['steps'])
def uses(job): return [s.get('uses', '') for s in job['steps']]


def test_release_workflow_publishes_a_checked_wheel():
    wf = load('release.yaml')
    on = wf.get('on', wf.get(True))   # YAML 1.1 reads a bare `on:` key as True
    assert on['push']['tags'] == ['v*']
    jobs = wf['jobs']
    assert 'python -m build' in runs(jobs['build'])
    assert 'COLAB_WHEEL=' in runs(jobs['colab-check']) and 'tools/check_colab.sh' in runs(jobs['colab-check'])
    pub = jobs['publish-pypi']
    assert 'colab-check' in pub['needs'], 'PyPI gets only a wheel that passed the Colab check'
    assert pub['permissions'] == {'id-token': 'write'}
    env = pub['environment']
    assert (env['name'] if isinstance(env, dict) else env) == 'pypi'
    assert any(u.startswith('pypa/gh-action-pypi-publish@') for u in uses(pub))
    rel = jobs['github-release']
    assert 'publish-pypi' in rel['needs'] and rel['permissions'] == {'contents': 'write'}
    assert 'mask_detection/weights/*.keras' in runs(rel) and 'site-*.tar.gz' in runs(rel)
    assert 'nbdev_docs' in runs(jobs['site']) and 'tar -czf' in runs(jobs['site'])


def test_check_colab_installs_a_given_wheel():
    sh = (ROOT/'tools'/'check_colab.sh').read_text(encoding='utf-8')
    assert 'COLAB_WHEEL' in sh and 'pip install -q "$COLAB_WHEEL"' in sh


def test_test_workflow_needs_no_apt_graphviz():
    text = (WORKFLOWS/'test.yaml').read_text(encoding='utf-8')
    load('test.yaml')
    assert not re.search(r'apt-get install[^\n]*graphviz', text), 'Graphviz comes from pip (graphviz-pure)'


def test_readme_installs_by_name():
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    assert re.search(r'^pip install mask-detection\s*$', readme, re.M), "README's install line names the PyPI package"
    assert f'git+https://github.com/' in readme, 'README keeps the git install for a version not on PyPI'


def test_changelog_has_a_section_per_version_newest_first():
    text = (ROOT/'CHANGELOG.md').read_text(encoding='utf-8')
    versions = re.findall(r'^## (\d+\.\d+\.\d+)\s*$', text, re.M)
    assert versions and versions[0] == version(), f'CHANGELOG.md: the newest section must be ## {version()} (settings.ini)'
    key = lambda v: tuple(map(int, v.split('.')))
    assert versions == sorted(versions, key=key, reverse=True), f'CHANGELOG.md: sections not newest first: {versions}'
    for v in versions:
        body = text.split(f'## {v}', 1)[1].split('\n## ', 1)[0]
        assert '### ' in body and '\n- ' in body, f'CHANGELOG.md: section {v} has no ### heading with bullets'
