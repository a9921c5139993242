"""Training runs for a GPU machine that has Keras but neither TensorFlow nor the dataset.

Reads the faces packed by `tools/pack_faces.py` (the pixels inside each box; the 256-pixel crops of chapter 7 are
rebuilt from them exactly) and writes one JSON line per epoch and per result to OUT/<job>.jsonl, so that a run cut
short still leaves what it did. Jobs:

- `report:<base>`: chapter 9.2's report configuration of one backbone (random weights: no ImageNet weights there),
  `preprocess_input` applied after /255, batch size 1, the test set as validation, 50 epochs (VGG-19: 10) with
  patience 3, `ModelCheckpoint(save_best_only=True)`; then predictions of the best model on train, dev and test.
- `fixed:mobilenetv2`: the chapter's fixed recipe (preprocessing inside the model, batch 32, dev set), then fine-tuning.
- `seeds`: cnn1 and cnn2 with five seeds each at the report's settings, then cnn3 while the budget lasts.
- `memory:<model>`: one epoch of cnn1, cnn2 or cnn3 at the report's settings (batch 32, 256 pixels); the peak GPU memory
  of this process (`peak_bytes_in_use`) and its peak resident host memory.

Usage: python tools/device_runs.py JOB FACES.npz OUTDIR --budget SECONDS [--quick]
"""
import argparse, os, re, sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mask_detection.transfer import JsonlLog, epoch_logger, fit_as_report, log_predictions  # noqa: E402 (after the path)


def load_faces(path, size:int, quick:bool):
    "{split: (uint8 images (N, size, size, 3) in the report's order, labels (N,))}, rebuilt from the packed boxes."
    from PIL import Image
    z = np.load(path)
    ends = np.cumsum([np.prod(s) for s in z['shapes']])
    boxes = np.split(z['pixels'], ends[:-1])
    out = {}
    for split in ('train', 'dev', 'test'):
        idx = np.flatnonzero(z['split'] == split)
        idx = idx[np.argsort(z['order'][idx])]
        if quick: idx = idx[:48]
        imgs = []
        for i in idx:
            crop = Image.fromarray(boxes[i].reshape(z['shapes'][i])).resize((256, 256), Image.BILINEAR)  # chapter 7's crop
            if size != 256: crop = crop.resize((size, size), Image.BILINEAR)  # Pillow's bilinear shrink is antialiased
            imgs.append(np.asarray(crop))
        out[split] = np.stack(imgs), z['label'][idx].astype('float32').reshape(-1, 1)  # (N, 1): Keras' F1Score wants 2-D labels
    return out


def report_job(base, faces, out, deadline, quick, log, bug=True):
    fit_as_report(base, load_faces(faces, 224, quick), out, weights=None, bug=bug, epochs=2 if quick else None, deadline=deadline, echo=True)


def keep_best(keras):
    "A callback keeping the weights of the epoch with the lowest val_loss in memory and putting them back at the end (the course's best.keras)."
    class KeepBest(keras.callbacks.Callback):
        best, weights, epoch = np.inf, None, None
        def on_epoch_end(self, epoch, logs=None):
            if logs['val_loss'] < self.best - 1e-4: self.best, self.weights, self.epoch = logs['val_loss'], self.model.get_weights(), epoch + 1
        def on_train_end(self, logs=None):
            if self.weights is not None: self.model.set_weights(self.weights)
    return KeepBest()


def fit_cnn(keras, name, data, seed, cfg, deadline, log, job, validation='dev'):
    from mask_detection.models import build
    from mask_detection.train import compile_model
    keras.utils.set_random_seed(seed)
    model = compile_model(build(name, data['train'][0].shape[1]), cfg.learning_rate)
    keep = keep_best(keras)
    t = time.time()
    model.fit(*data['train'], batch_size=cfg.batch_size, epochs=cfg.epochs, validation_data=data[validation], verbose=0, shuffle=True,
              callbacks=[keras.callbacks.EarlyStopping(monitor='val_loss', mode='min', patience=cfg.patience, min_delta=cfg.min_delta),
                         keep, epoch_logger(log, job, deadline)])
    return model, keep.epoch, time.time() - t


def seeds_job(faces, out, deadline, quick, log, plan=None):
    import keras
    from mask_detection.models import model_spec
    from sklearn.metrics import f1_score, accuracy_score
    data = load_faces(faces, 256, quick)
    plan = plan or [(n, s) for s in range(5) for n in ('cnn1', 'cnn2')] + [('cnn3', s) for s in range(5)]
    for name, seed in plan:
        if time.time() > deadline - (45 if name == 'cnn3' else 20): log(kind='note', job='seeds', note=f'{name} seed {seed}: not run, budget spent'); continue
        cfg = model_spec(name).config
        if quick: cfg = type(cfg)(epochs=1, patience=1)
        job = f'seeds:{name}:{seed}'
        model, best_epoch, secs = fit_cnn(keras, name, data, seed, cfg, deadline, log, job)
        row = dict(kind='result', job=job, model=name, seed=seed, best_epoch=best_epoch, seconds=round(secs, 1), params=model.count_params())
        for split, (x, y) in data.items():
            p = (model.predict(x, batch_size=64, verbose=0).ravel() > .5).astype(int)
            y = y.ravel(); row[f'{split}_accuracy'] = accuracy_score(y, p); row[f'{split}_f1'] = f1_score(y, p)
        log(**row)
        del model; keras.backend.clear_session()


def fixed_job(faces, out, deadline, quick, log):
    import keras
    from mask_detection.models import TRANSFER_CONFIG
    from mask_detection.transfer import transfer_model, fine_tune
    from mask_detection.train import compile_model
    data = load_faces(faces, 224, quick)
    cfg = TRANSFER_CONFIG if not quick else type(TRANSFER_CONFIG)(epochs=1, patience=1, image_size=224)
    keras.utils.set_random_seed(0)
    model = compile_model(transfer_model('mobilenetv2', weights=None), cfg.learning_rate)
    log(kind='start', job='fixed:mobilenetv2', params=model.count_params(), backend=keras.backend.backend())
    keep = keep_best(keras)
    model.fit(*data['train'], batch_size=cfg.batch_size, epochs=cfg.epochs, validation_data=data['dev'], verbose=0, shuffle=True,
              callbacks=[keras.callbacks.EarlyStopping(monitor='val_loss', patience=cfg.patience, min_delta=cfg.min_delta), keep,
                         epoch_logger(log, 'fixed:mobilenetv2:head', deadline - 120)])
    log_predictions(model, data, 'fixed:mobilenetv2:head', log, best_epoch=keep.epoch)
    fine_tune(model, n_layers=30)
    keep = keep_best(keras)
    model.fit(*data['train'], batch_size=cfg.batch_size, epochs=10 if not quick else 1, validation_data=data['dev'], verbose=0, shuffle=True,
              callbacks=[keras.callbacks.EarlyStopping(monitor='val_loss', patience=3, min_delta=cfg.min_delta), keep,
                         epoch_logger(log, 'fixed:mobilenetv2:fine-tune', deadline)])
    log_predictions(model, data, 'fixed:mobilenetv2:fine-tune', log, best_epoch=keep.epoch)


def scratch_job(faces, out, deadline, quick, log):
    "MobileNetV2 with random weights, every layer trained (batch normalisation too): the fixed pipeline when no pretrained weights exist."
    import keras
    from mask_detection.models import TRANSFER_CONFIG
    from mask_detection.transfer import transfer_model
    from mask_detection.train import compile_model
    data = load_faces(faces, 224, quick)
    keras.utils.set_random_seed(0)
    model = transfer_model('mobilenetv2', weights=None)
    for layer in model.layers: layer.trainable = True
    base = next(l for l in model.layers if isinstance(l, keras.Model)); base.trainable = True
    compile_model(model, TRANSFER_CONFIG.learning_rate)
    log(kind='start', job='scratch:mobilenetv2', params=model.count_params(), trainable=sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    keep = keep_best(keras)
    model.fit(*data['train'], batch_size=32, epochs=2 if quick else 50, validation_data=data['dev'], verbose=0, shuffle=True,
              callbacks=[keras.callbacks.EarlyStopping(monitor='val_loss', patience=5, min_delta=1e-4), keep,
                         epoch_logger(log, 'scratch:mobilenetv2', deadline)])
    log_predictions(model, data, 'scratch:mobilenetv2', log, best_epoch=keep.epoch)


def memory_job(name, faces, out, deadline, quick, log):
    "GPU and host memory of training one of the course's CNNs for an epoch (each job is its own process, so its own peaks)."
    import resource, keras, jax
    from mask_detection.models import build
    from mask_detection.train import compile_model
    data = load_faces(faces, 256, quick)
    keras.utils.set_random_seed(0)
    model = compile_model(build(name, 256))
    t = time.time()
    model.fit(*data['train'], batch_size=32, epochs=1, validation_data=data['dev'], verbose=0, shuffle=True)
    stats = jax.devices()[0].memory_stats() or {}
    log(kind='result', job=f'memory:{name}', model=name, params=model.count_params(), seconds=round(time.time() - t, 1),
        gpu_peak_gb=round(stats.get('peak_bytes_in_use', float('nan')) / 1e9, 2),
        host_peak_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        train_faces=len(data['train'][0]), device=str(jax.devices()[0]))


def smoke(out, log):
    "A few steps of each kind of model on random data: the backend works on this machine."
    import keras
    from mask_detection.transfer import report_model
    from mask_detection.models import build
    from mask_detection.train import compile_model
    m = compile_model(build('cnn2', 64)); m.fit(np.random.randint(0, 255, (8, 64, 64, 3)).astype('uint8'), np.ones((8, 1)), batch_size=4, verbose=0)
    m = report_model('mobilenetv2', weights=None); m.compile('adam', 'binary_crossentropy')
    m.fit(np.random.rand(2, 224, 224, 3).astype('float32'), np.ones((2, 1)), batch_size=1, verbose=0)
    import jax  # noqa: only to say which devices the backend saw
    log(kind='smoke', backend=keras.backend.backend(), keras=keras.__version__, jax=jax.__version__, devices=[str(d) for d in jax.devices()],
        matmul_precision=str(jax.config.jax_default_matmul_precision))


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('job'); ap.add_argument('faces'); ap.add_argument('out'); ap.add_argument('--budget', type=float, default=400)
    ap.add_argument('--quick', action='store_true')
    a = ap.parse_args()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + a.budget
    log = JsonlLog(out/f"{re.sub(r'[^A-Za-z0-9._-]', '-', a.job)}.jsonl", echo=True)
    try:
        if a.job == 'smoke': smoke(out, log)
        elif a.job.startswith('report:'): report_job(a.job.split(':')[1], a.faces, out, deadline, a.quick, log)
        elif a.job.startswith('nobug:'): report_job(a.job.split(':')[1], a.faces, out, deadline, a.quick, log, bug=False)
        elif a.job == 'seeds': seeds_job(a.faces, out, deadline, a.quick, log)
        elif a.job.startswith('seeds:'):  # seeds:cnn1=5-9,cnn2=0-9
            plan = [(n, s) for part in a.job.split(':')[1].split(',') for n, r in [part.split('=')]
                    for s in range(int(r.split('-')[0]), int(r.split('-')[1]) + 1)]
            seeds_job(a.faces, out, deadline, a.quick, log, plan)
        elif a.job.startswith('memory:'): memory_job(a.job.split(':')[1], a.faces, out, deadline, a.quick, log)
        elif a.job == 'scratch:mobilenetv2': scratch_job(a.faces, out, deadline, a.quick, log)
        elif a.job == 'fixed:mobilenetv2': fixed_job(a.faces, out, deadline, a.quick, log)
        else: raise SystemExit(f'unknown job {a.job}')
    except Exception as e:
        log(kind='error', job=a.job, error=f'{type(e).__name__}: {e}'); raise
