"""Packaging driven by settings.ini (nbdev 2 layout), without pkg_resources."""
import shlex
from configparser import ConfigParser
from pathlib import Path

import setuptools

config = ConfigParser(delimiters=['='])
config.read(Path(__file__).with_name('settings.ini'), encoding='utf-8')
cfg = config['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable']
lic = licenses[cfg['license']]
min_python = cfg['min_python']

requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=Path(__file__).with_name('README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    url=cfg['git_url'],
    license=lic[0],
    keywords=cfg['keywords'].split(),
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'License :: ' + lic[1],
        'Natural Language :: ' + cfg['language'].title(),
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Programming Language :: Python :: 3.13',
    ],
    packages=setuptools.find_packages(include=['mask_detection', 'mask_detection.*']),
    include_package_data=True,
    package_data={'mask_detection': ['train_memory.csv', 'prepare_speed.csv', 'photo_folds.csv', 'weights/*.keras', 'gpu_runs/*.jsonl.gz', 'cpu_seeds.csv', 'detect_speed.csv', 'distribute_speed.csv', 'pipeline_speed.csv', 'allocator_memory.csv', 'inference_speed.csv', 'staged_step.csv', 'cnn3_runs.csv', 'classifier_training.csv', 'cli_startup.csv', 'video_speed.csv', 'video_memory.csv', 'sample/*.md', 'sample/images/*.png', 'sample/annotations/*.xml', 'sample/other-faces/*.md', 'sample/other-faces/*.csv', 'sample/other-faces/LICENSE', 'sample/other-faces/*/*.jpg', 'other_split.csv', 'detect_speed_1000.csv', 'detect_tradeoff.csv']},
    install_requires=requirements,
    extras_require={'dev': dev_requirements, 'colab': ['kagglehub']},
    python_requires='>=' + min_python,
    zip_safe=False,
    entry_points={
        'console_scripts': cfg['console_scripts'].split(),
        'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
)
