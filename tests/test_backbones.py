"""The transfer backbones are data, read by both the registry and the transfer code, with no import circle.

- `mask_detection.backbones` holds one record per backbone (Keras application, the report's head and
  epochs) and imports neither Keras nor another module of the package;
- every transfer entry of the registry carries its record; the report's epochs and heads are the report's;
- `mask_detection.transfer` never imports `mask_detection.models` (not even inside a function), and
  branches on no model name: the registry imports the transfer code (when a transfer model is built),
  never the other way round.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

from mask_detection.backbones import BACKBONES, backbone
from mask_detection.models import MODELS, model_spec

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT/'mask_detection'


def imported_modules(path):
    "Every module a file imports, at any depth (relative imports resolved against the package)."
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for n in ast.walk(tree):
        if isinstance(n, ast.Import): yield from (a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            mod = ('mask_detection.' if n.level else '') + (n.module or '')
            yield mod.rstrip('.')
            if n.module is None: yield from (f'mask_detection.{a.name}' for a in n.names)


def test_transfer_does_not_import_models():
    mods = set(imported_modules(PKG/'transfer.py'))
    assert 'mask_detection.models' not in mods, 'transfer.py imports models: the two would import each other in a circle'
    assert 'mask_detection.backbones' in mods


def test_backbones_is_light():
    mods = set(imported_modules(PKG/'backbones.py'))
    assert not {m for m in mods if m.split('.')[0] in ('keras', 'tensorflow', 'mask_detection')}, mods


def test_importing_transfer_leaves_models_unloaded():
    code = "import sys, mask_detection.transfer; print('mask_detection.models' in sys.modules)"
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'PYTHONPATH': str(ROOT), 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == 'False'


def test_registry_reads_no_tensorflow():
    code = "import sys, mask_detection.models, mask_detection.backbones; print(sorted(m for m in ('keras', 'tensorflow', 'mask_detection.transfer') if m in sys.modules))"
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == '[]'


def test_every_transfer_model_carries_its_backbone():
    transfer = {n for n, s in MODELS.items() if s.family == 'transfer'}
    assert transfer == set(BACKBONES)
    for name in transfer:
        b = model_spec(name).backbone
        assert b is BACKBONES[name] and b.name == name and model_spec(name).title == b.keras_class
    assert all(s.backbone is None for s in MODELS.values() if s.family != 'transfer')


def test_the_report_heads_and_epochs():
    assert {n: b.report_epochs for n, b in BACKBONES.items()} == {'mobilenetv2': 50, 'vgg19': 10, 'resnet50': 50, 'inceptionv3': 50}
    assert backbone('mobilenetv2').pool is None and backbone('mobilenetv2').dense == ((256, .4), (128, .3), (64, .1))
    for n in ('vgg19', 'resnet50', 'inceptionv3'): assert backbone(n).pool == 3 and backbone(n).dense == ((128, .1), (64, 0))
    assert {n: (b.keras_class, b.keras_module) for n, b in BACKBONES.items()} == {
        'mobilenetv2': ('MobileNetV2', 'mobilenet_v2'), 'vgg19': ('VGG19', 'vgg19'),
        'resnet50': ('ResNet50', 'resnet50'), 'inceptionv3': ('InceptionV3', 'inception_v3')}


def test_transfer_branches_on_no_model_name():
    tree = ast.parse((PKG/'transfer.py').read_text(encoding='utf-8'))
    names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)} & set(BACKBONES)
    assert not names, f'transfer.py spells out backbone names {names}: their differences belong in mask_detection.backbones'
    assert 'REPORT_EPOCHS' not in (PKG/'transfer.py').read_text(encoding='utf-8')
