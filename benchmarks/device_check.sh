#!/usr/bin/env bash
# One-shot device check for a GPU or TPU machine (<= 8 minutes): the tests that matter
# on a new device (float32 and float64 parity against brute force, far rows and no NaN,
# no float64 in the float32 programs, sharded equal to single-device results), then the
# quick benchmark suite with its float64 checks. One PASS / FAIL line at the end.
#
#   bash benchmarks/device_check.sh [REPORT.json]     (default: device_check.json)
#
# Needs the test extra: pip install -e ".[test]" (plus jax[cuda12] or jax[tpu]).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
REPORT=${1:-device_check.json}
start=$(date +%s)
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())" || exit 2

timeout 330 "$PY" -m pytest -q -p no:cacheprovider \
    tests/test_float32_path.py tests/test_kernels.py tests/test_engine.py \
    tests/test_exactness.py tests/test_sharded.py
tests=$?

timeout 150 "$PY" -m quests_jax.cli bench --check --overwrite -o "$REPORT"
bench=$?

elapsed=$(( $(date +%s) - start ))
device=$("$PY" -c "import jax; d = jax.devices()[0]; print(d.platform, d.device_kind, 'x', jax.device_count())")
if [ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]; then
    echo "DEVICE CHECK PASS: tests and quick suite on $device in ${elapsed} s (report: $REPORT)"
    exit 0
fi
echo "DEVICE CHECK FAIL: tests exit $tests, bench --check exit $bench on $device in ${elapsed} s"
exit 1
