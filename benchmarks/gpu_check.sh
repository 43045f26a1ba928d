#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one script sized for a short lease of one GPU
# machine: all steps together stop within BUDGET_S seconds (default 540, under a
# 10-minute limit on one command), each step also within its own limit:
#
#   1. benchmarks/throughput.py --quick on CUDA (the README "Performance" table);
#   2. one epoch of dcgan_cifar10 on one GPU in float32, with --amp bf16 and with
#      --amp fp16, images/s from each run's own log (issue 14's 1-GPU --amp run);
#   3. the test suite on the GPU machine, where every experiment picks CUDA;
#   4. dcgan_cifar10 in float32 with --no-channels-last, against step 2's default layout.
#
# Usage, from the repository root:
#
#   benchmarks/gpu_check.sh OUTDIR [CIFAR10_TARBALL]
#
# OUTDIR receives one log per step and summary.txt (each step's exit status and its key
# lines). CIFAR10_TARBALL is ../shared/data/cifar10-jpg/cifar10_jpg.tar.gz or a copy; without
# it step 2 is skipped. Environment:
#
#   PYTHON   the interpreter whose torch sees the GPU (default python3)
#   WHEELS   a folder of wheels the machine lacks (pytorch-ignite, say), installed with
#            --no-deps into the check's virtual environment; made where PyPI is reachable
#            with `python3 -m pip download --no-deps -d WHEELS pytorch-ignite==0.5.5`
#            (pure Python, so one wheel serves every platform)
#   NO_VENV  1: use PYTHON as it is (it already has this project installed), no venv
#   ALLOW_CPU 1: run even without a CUDA device (to try the script itself on a CPU)
#   QUICK    1: the smallest version of each step (to try the script itself)
#   BUDGET_S seconds for all steps together (default 540); a step that would start with
#            under 30 s left is skipped and says so
#
# The virtual environment is made with --system-site-packages, so the machine's own torch
# (with its CUDA build) is used and only this project and WHEELS are installed. Each step
# has its own time limit; a failing or timed-out step is reported and the next still runs.
set -uo pipefail

out=${1:?usage: benchmarks/gpu_check.sh OUTDIR [CIFAR10_TARBALL]}
tarball=${2:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)  # both taken from the caller's folder, before the cd below
[ -z "$tarball" ] || tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
cd "$(dirname "$0")/.."
summary="$out/summary.txt"
: >"$summary"
python=${PYTHON:-python3}
budget=${BUDGET_S:-540}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT  # the venv and the unpacked images, also when the script is stopped
export PYTHONUNBUFFERED=1

note() { echo "$*" | tee -a "$summary"; }

# step NAME LIMIT_S COMMAND...: runs COMMAND within LIMIT_S and what is left of the budget,
# its output in OUTDIR/NAME.log. The trainer finishes its iteration and saves on SIGTERM;
# a process that does not end 15 s after it is killed.
step() {
    local name=$1 limit=$2
    shift 2
    local left=$((budget - SECONDS - 15))
    if [ "$left" -lt 30 ]; then
        note "== $name: skipped (${left} s of the ${budget} s budget left)"
        return 125
    fi
    [ "$limit" -le "$left" ] || limit=$left
    local start=$SECONDS
    timeout -k 15 "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$? why=""
    { [ $rc = 124 ] || [ $rc = 137 ]; } && why=" (timed out at $limit s)"
    note "== $name: exit $rc after $((SECONDS - start)) s$why"
    return $rc
}

if [ "${NO_VENV:-0}" != 1 ]; then
    "$python" -m venv --system-site-packages "$scratch/venv" || { note "could not make a venv from $python"; exit 2; }
    pip="$scratch/venv/bin/python -m pip install -q --no-index --no-deps"
    if [ -n "${WHEELS:-}" ]; then
        $pip "$WHEELS"/*.whl >>"$out/install.log" 2>&1 || { note "could not install the wheels in $WHEELS (install.log)"; exit 2; }
    fi
    if ! $pip --no-build-isolation -e . >>"$out/install.log" 2>&1; then
        # Without setuptools' wheel support: the project from the checkout, no console script.
        note "the editable install failed (install.log): the project is on PYTHONPATH, so the gan-ignite command is absent"
        export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    fi
    python="$scratch/venv/bin/python"
fi

"$python" - >"$out/env.txt" 2>&1 <<'EOF'
import platform, torch, ignite, torchvision
print("python", platform.python_version(), "torch", torch.__version__, "torchvision", torchvision.__version__,
      "ignite", ignite.__version__)
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "-",
      "cudnn", torch.backends.cudnn.version())
EOF
rc=$?
cat "$out/env.txt" | tee -a "$summary"
[ $rc = 0 ] || { note "the environment is not usable (see env.txt)"; exit 2; }
if ! grep -q "^cuda True" "$out/env.txt" && [ "${ALLOW_CPU:-0}" != 1 ]; then
    note "no CUDA device is visible: nothing to check here (ALLOW_CPU=1 runs the steps anyway)"
    exit 2
fi
command -v nvidia-smi >/dev/null && nvidia-smi >"$out/nvidia-smi.txt" 2>&1

# 1. Throughput.
if [ "${QUICK:-0}" = 1 ]; then sizes=(--rounds 1 --iterations 2 --warmup 1); else sizes=(--quick); fi
step throughput 180 "$python" benchmarks/throughput.py "${sizes[@]}"
grep -E "^(device|measured|note|fast switches)|^\| 28x28x1 \||^\| 32x32x3" "$out/throughput.log" >>"$summary" 2>/dev/null
tail -n 1 "$out/throughput.log" >"$out/throughput.json" 2>/dev/null

# 2. dcgan_cifar10 on one GPU: float32, bf16 and fp16 autocast, one epoch each (and, in
#    step 4, float32 in the NCHW layout, against the default channels_last).
cifar() {  # cifar NAME SWITCHES...: one epoch, and its images/s from the run's own log
    local name=$1
    shift
    step "cifar10_$name" 100 "$python" -m experiments.dcgan_cifar10 --data-root "$scratch/data" \
        --epochs 1 --num-workers 8 --no-progress --out "$scratch/runs/$name" ${limit[@]+"${limit[@]}"} "$@" \
        || return
    "$python" - "$scratch/runs/$name" "$*" >>"$summary" 2>&1 <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
entry = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
batch = json.loads((run / "config.json").read_text())["batch_size"]
print(f"   {sys.argv[2]}: {entry['iteration']} iterations of {batch} in {entry['elapsed_time']:.1f} s of "
      f"training, {entry['iteration'] * batch / entry['elapsed_time']:.0f} images/s (from its log; the folder's "
      f"decoding before training is not in it); gen/loss {entry['gen/loss']:.3f}, dis/loss {entry['dis/loss']:.3f}")
EOF
}
limit=()
[ "${QUICK:-0}" = 1 ] && limit=(--limit 256)
if [ -n "$tarball" ]; then
    mkdir -p "$scratch/data" && tar -xzf "$tarball" -C "$scratch/data"
    for amp in off bf16 fp16; do
        cifar "amp_$amp" --amp "$amp"
    done
else
    note "== cifar10: skipped (no CIFAR10_TARBALL given)"
fi

# 3. The suite, on as many workers as the machine has cores for (pytest-xdist where installed).
workers=()
"$python" -c "import xdist" 2>/dev/null && workers=(-n "$(($(nproc) > 8 ? 8 : $(nproc)))")
tests=()
[ "${QUICK:-0}" = 1 ] && tests=(tests/test_batching.py tests/test_speed_switches.py -m "not slow")
step suite 420 "$python" -m pytest -q -p no:cacheprovider ${workers[@]+"${workers[@]}"} ${tests[@]+"${tests[@]}"}
tail -n 15 "$out/suite.log" 2>/dev/null | grep -E "passed|failed|error|FAILED|ERROR" >>"$summary"

# 4. Whether channels_last, the default, also pays in float32 on this GPU (last: the least needed).
[ -z "$tarball" ] || cifar fp32_nchw --amp off --no-channels-last

echo "summary in $summary"
