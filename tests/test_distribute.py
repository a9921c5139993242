"Training under tf.distribute: a run mirrored over two logical CPU devices, killed after its first epoch and resumed."
import json
import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd

from conftest import run_cli

# Logical devices can only be set before TensorFlow starts: each step runs in a fresh Python.
SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from pathlib import Path
    from mask_detection.pipeline import load_split
    from mask_detection.models import TrainConfig
    from mask_detection.train import train_model
    prep, run_dir, kill = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == 'kill'
    class KillAfterFirstEpoch(keras.callbacks.Callback):   # runs after the run's own checkpoint callback
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0: os.kill(os.getpid(), signal.SIGKILL)
    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    cfg = TrainConfig(epochs=2, patience=5, image_size=48, batch_size=8)
    run = train_model('cnn2', load_split(prep/'split.csv'), prep/'crops', run_dir, cfg, strategy=strategy, verbose=0,
                      extra_callbacks=[KillAfterFirstEpoch()] if kill else [])
    print(json.dumps(dict(replicas=strategy.num_replicas_in_sync, steps=int(run.model.optimizer.iterations.numpy()),
                          model_replicas=run.model.distribute_strategy.num_replicas_in_sync)))
""")


def train(prep, run_dir, mode):
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', 'CUDA_VISIBLE_DEVICES': ''}
    return subprocess.run([sys.executable, '-c', SCRIPT, str(prep), str(run_dir), mode], capture_output=True, text=True,
                          env=env, timeout=600)


def test_mirrored_run_killed_after_epoch_1_resumes_on_two_replicas(tmp_path):
    from mask_detection.pipeline import load_split
    from mask_detection.train import load_model, read_state
    prep, run_dir = tmp_path/'prep', tmp_path/'run'
    assert run_cli('prepare', '--sample', '--out', prep, '--size', 48, '--quiet').returncode == 0
    n_train = int((load_split(prep/'split.csv').split == 'train').sum())
    assert n_train == 60                                   # the bundled sample's train split
    killed = train(prep, run_dir, 'kill')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    state = read_state(run_dir)
    assert state['identity']['batch_size'] == 16 and state['replicas'] == 2   # global batch: 8 per replica × 2
    assert [r['epoch'] for r in state['history']] == [0] and not state['finished']
    assert (run_dir/'last'/'epoch-1.index').exists() and (run_dir/'best.keras').exists()
    resumed = train(prep, run_dir, 'resume')
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert out['replicas'] == out['model_replicas'] == 2
    assert out['steps'] == 2 * -(-n_train // 16)           # the optimizer's step count went on from epoch 1: 4 + 4
    h = pd.read_csv(run_dir/'history.csv')
    assert h.epoch.tolist() == [0, 1] and h.loss.notna().all()
    state = read_state(run_dir)
    assert state['finished'] and sorted(p.name for p in run_dir.iterdir()) == ['best.keras', 'config.csv', 'history.csv', 'state.json']
    stated = pd.read_csv(run_dir/'config.csv', index_col=0).iloc[:, 0]
    assert (int(stated.batch_size), int(stated.replicas), int(stated.global_batch_size), stated.strategy) == (8, 2, 16, 'MirroredStrategy')
    # the best model loads on one device and scores the dev faces as its epoch did
    from mask_detection.pipeline import image_dataset
    model = load_model(run_dir/'best.keras')
    dev = image_dataset(load_split(prep/'split.csv'), prep/'crops', 'dev', batch_size=16, image_size=48)
    loss = model.evaluate(dev, verbose=0, return_dict=True)['loss']
    assert abs(loss - h.val_loss.min()) < 1e-4, (loss, h.val_loss.tolist())


def test_cli_devices_picks_the_strategy_and_refuses_a_missing_device(tmp_path):
    prep = tmp_path/'prep'
    assert run_cli('prepare', '--sample', '--out', prep, '--size', 32, '--quiet').returncode == 0
    args = ['train', '--model', 'cnn2', '--prepared', prep, '--epochs', 1, '--image-size', 32, '--limit', 32, '--batch-size', 8, '--quiet']
    r = run_cli(*args, '--out', tmp_path/'mirrored', '--devices', '/cpu:0')
    assert r.returncode == 0, r.stderr
    stated = pd.read_csv(tmp_path/'mirrored'/'config.csv', index_col=0).iloc[:, 0]
    assert (stated.strategy, int(stated.replicas), int(stated.global_batch_size)) == ('MirroredStrategy', 1, 8)
    missing = run_cli(*args, '--out', tmp_path/'nowhere', '--devices', '/cpu:0,/gpu:99')
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    assert 'device /gpu:99: not on this machine' in missing.stderr
