#!/usr/bin/env bash
# All of tools/device_runs.py's jobs at once on a GPU machine (Keras from carried wheels, JAX backend, torch if JAX fails).
# Usage: OUT=<folder> bash tools/device_runs.sh [SECONDS] [--quick]    (SECONDS: wall-clock for the whole script)
set -u
T=${1:-540}; QUICK=${2:-}; START=$(date +%s)
if [ -z "${NO_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit 1
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
(nvidia-smi -L || true) | tee -a $OUT/log.txt
F=.devdata/faces.npz
for backend in jax torch; do
  export KERAS_BACKEND=$backend
  if timeout 120 python3 tools/device_runs.py smoke $F $OUT >>$OUT/log.txt 2>&1 && grep -q "\"backend\": \"$backend\"" $OUT/smoke.jsonl \
     && { [ -n "$QUICK" ] || grep -qi "cuda\|gpu" $OUT/smoke.jsonl; }; then ok=1; break; fi
  echo "backend $backend failed its smoke test" | tee -a $OUT/log.txt; ok=0
done
[ $ok = 1 ] || { tail -40 $OUT/log.txt; exit 1; }
LEFT=$(( T - ($(date +%s) - START) - 15 )); BUDGET=$(( LEFT - 110 ))
echo "backend $KERAS_BACKEND; jobs get $BUDGET s of training, $LEFT s in all" | tee -a $OUT/log.txt
JOBS=${JOBS:-report:mobilenetv2 report:vgg19 report:resnet50 report:inceptionv3 fixed:mobilenetv2 seeds}
for job in $JOBS; do
  timeout $LEFT python3 tools/device_runs.py $job $F $OUT --budget $BUDGET $QUICK >>$OUT/log.txt 2>&1 &
done
wait
grep -h '"kind": "\(result\|checkpoint\|note\|error\)"' $OUT/*.jsonl | cut -c1-400
grep -c '"kind": "epoch"' $OUT/*.jsonl
grep -i "error\|Traceback" $OUT/log.txt | head -20
