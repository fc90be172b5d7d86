#!/usr/bin/env bash
# The GPU checks that issue 5 still owes, as one prepared command for a lent GPU machine (an
# NVIDIA GPU; CuPy, PyTorch, pytest and Hypothesis preinstalled; no network):
#
#   bash benchmarks/gpu_check.sh OUTDIR [SECONDS]
#
# 1. env.txt: the GPU, the library versions, the devices tinygrad_mlp sees. Stops here (exit 2)
#    when CuPy sees no GPU, unless GPU_CHECK_ALLOW_CPU=1 (a dry run of this script on a CPU box).
# 2. pytest-gpu.log: every test that runs on the CUDA device (the op suite, MLPStack, dropout
#    masks from CuPy's generator, the optimizers' out= temporaries on CuPy, the GPU example):
#    `pytest -k "cuda or gpu"`. At most a third of SECONDS.
# 3. bench/ and bench.log: `tinygrad-mlp bench --device all --skip epoch,sklearn` (CPU and GPU
#    steps, PyTorch CPU and CUDA, overhead, memory; the epoch benchmark is the CPU reference
#    machine's business). Commit bench/ as benchmarks/results/gpu-<GPU name>/. The rest of
#    SECONDS but 60.
# 4. labels.log: benchmarks/ab/gpu_label_check.py, the step with and without the class-label check
#    of F.cross_entropy (one GPU synchronisation per step).
# summary.txt lists each stage's exit status and seconds (124: stopped by SIGINT at its time
# limit; 137: killed 20 s later); the script exits 1 when a stage failed. The device machine's
# copy of the tree has no .git: pass the commit as TINYGRAD_MLP_COMMIT=$(git rev-parse HEAD) so
# that env.txt and bench.json name it. SECONDS (at least 90) defaults to 540, which leaves a
# 10-minute device call a minute for the rest.
#
# The GPU image lacks two pure-Python packages. Fetch their wheels first where pip works (.whl/ is
# git-ignored; name it in the device call's carry), and they are installed from there:
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl array-api-compat array-api-strict
# A device call (carry .whl):
#   TINYGRAD_MLP_COMMIT=<commit> bash benchmarks/gpu_check.sh /tmp/gc; tar czf "$OUT/gc.tgz" -C /tmp gc
# The test suite dry-runs this script on the CPU (tests/test_bench.py) with GPU_CHECK_ALLOW_CPU=1,
# GPU_CHECK_QUICK=1 (bench --quick, a short A/B) and GPU_CHECK_NO_INSTALL=1 (no pip: the tree
# as it is).
set -u
out=${1:?usage: bash benchmarks/gpu_check.sh OUTDIR [SECONDS]}
budget=${2:-540}
if ! [[ $budget =~ ^[0-9]+$ ]] || ((budget < 90)); then
    echo "usage: bash benchmarks/gpu_check.sh OUTDIR [SECONDS >= 90], got SECONDS=$budget" >&2
    exit 2
fi
py=${PYTHON:-python3}
mkdir -p "$out"
out=$(cd "$out" && pwd)  # before the cd below: a relative OUTDIR is the caller's
cd "$(dirname "$0")/.."
start=$SECONDS
export HYPOTHESIS_PROFILE=ci MPLBACKEND=Agg PYTHONUNBUFFERED=1

stage() {  # stage NAME LIMIT COMMAND...: run, log the exit status and the seconds taken
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    # SIGINT at the limit: pytest then still reports what ran and failed (-rfE)
    timeout -s INT -k 20 "$limit" "$@"
    rc=$?
    echo "$name: exit $rc, $((SECONDS - t0)) s (limit $limit s)" | tee -a "$out/summary.txt"
    return $rc
}

: >"$out/summary.txt"
quick=${GPU_CHECK_QUICK:-0}
if [ "${GPU_CHECK_NO_INSTALL:-0}" = 1 ]; then
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
else
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$py" -m pip install -q --no-index --no-deps --target /tmp/gpu-check-site .whl/*.whl \
            >"$out/install.log" 2>&1 && export PYTHONPATH=/tmp/gpu-check-site${PYTHONPATH:+:$PYTHONPATH}
    fi
    # the package itself, with its console script (an editable install into $py's environment:
    # on a machine you keep, dry-run in a throwaway venv); without setuptools >= 77, the tree
    "$py" -m pip install -q --no-deps --no-build-isolation -e . >>"$out/install.log" 2>&1 \
        || export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi

{
    date -u +"%Y-%m-%dT%H:%M:%SZ"
    echo "commit: ${TINYGRAD_MLP_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
    nvidia-smi -L 2>&1 || echo "nvidia-smi: not available"
    "$py" - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ("numpy", "cupy", "torch", "scipy", "array_api_compat", "array_api_strict", "hypothesis"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as exc:
        print(name, "missing:", type(exc).__name__, exc)
from tinygrad_mlp import backend
print("tinygrad_mlp devices:", backend.available_devices())
if backend.is_available("cuda"):  # array_api_compat.cupy, or bare cupy without array-api-compat
    print("cuda namespace:", backend.namespace_for("cuda").__name__)
EOF
} >"$out/env.txt" 2>&1
cat "$out/env.txt"
if grep -q "^array_api_\(compat\|strict\) missing" "$out/env.txt"; then
    echo "WARNING: array-api-compat or array-api-strict is missing (bring .whl/, see the header):" \
        "the CUDA namespace or the optimizer tests are not what CI tests" | tee -a "$out/summary.txt"
fi
if ! grep -q "devices:.*'cuda'" "$out/env.txt" && [ "${GPU_CHECK_ALLOW_CPU:-0}" != 1 ]; then
    echo "no CUDA device for tinygrad_mlp: see $out/env.txt" | tee -a "$out/summary.txt"
    exit 2
fi

status=0
# the example scripts (subprocesses, 120 s limit each) last: by then CuPy has compiled the kernels
files=$(ls tests/test_*.py | grep -v "tests/test_examples.py")
stage tests $((budget / 3)) "$py" -m pytest -q -rfE -p no:cacheprovider -k "cuda or gpu" \
    $files tests/test_examples.py >"$out/pytest-gpu.log" 2>&1 || status=1
tail -n 3 "$out/pytest-gpu.log"
left=$((budget - (SECONDS - start) - 60))  # 60 s kept for stage 4
bench_args=(--device all --skip epoch,sklearn --out "$out/bench")
[ "$quick" = 1 ] && bench_args+=(--quick)
stage bench $((left > 30 ? left : 30)) "$py" -m tinygrad_mlp.bench "${bench_args[@]}" \
    >"$out/bench.log" 2>&1 || status=1
tail -n 5 "$out/bench.log"
left=$((budget - (SECONDS - start)))
device=cuda
[ "${GPU_CHECK_ALLOW_CPU:-0}" = 1 ] && ! grep -q "devices:.*'cuda'" "$out/env.txt" && device=cpu
label_args=("$device")
[ "$quick" = 1 ] && label_args+=(--quick)
stage labels $((left > 20 ? left : 20)) "$py" benchmarks/ab/gpu_label_check.py "${label_args[@]}" \
    >"$out/labels.log" 2>&1 || status=1
cat "$out/labels.log"
exit $status
