#!/usr/bin/env bash
# The prepared GPU check of docs/gpu.md, in one command on a machine with an NVIDIA GPU and
# CuPy (issue 16): make the package importable, run the GPU suite, run the benchmark, and keep
# every log under $OUT (default ./gpu_out).
#
#   bash benchmarks/gpu_session.sh            # full: GPU tests, then bench_gpu.py
#   QUICK=1 bash benchmarks/gpu_session.sh    # bench_gpu.py --quick
#
# The package is taken, in this order, from: an importable minifloat with its extension (e.g.
# a venv or wheel brought along), a `pip install --no-build-isolation --no-deps .` (needs
# scikit-build-core, CMake and pybind11 on the machine), or a plain CMake build of the
# extension into the source tree (needs CMake and pybind11).  Exit status: that of the GPU
# tests, or of the benchmark if the tests passed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
log() { echo "gpu_session: $*" | tee -a "$OUT/session.log"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true; } \
  > "$OUT/device.txt" 2>&1
"$PY" -c "import cupy, sys; print('cupy', cupy.__version__, 'python', sys.version.split()[0])" \
  >> "$OUT/device.txt" 2>&1 || { log "CuPy does not import"; exit 2; }
grep -o -w 'avx2\|avx512[a-z]*' /proc/cpuinfo | sort -u | tr '\n' ' ' >> "$OUT/device.txt"

importable() { (cd /tmp && PYTHONPATH="$PWD_SRC" "$PY" -c "import minifloat._core") 2>/dev/null; }
PWD_SRC=""
if importable; then
  log "using the installed minifloat"
else
  log "building: pip install --no-build-isolation --no-deps ."
  if "$PY" -m pip install -q --no-build-isolation --no-deps . > "$OUT/build.log" 2>&1 \
      && importable; then
    log "built with pip"
  else
    log "pip build failed (see build.log); trying CMake into the source tree"
    B=build/gpu-session
    if cmake -S . -B "$B" -DPython_EXECUTABLE="$(command -v "$PY")" \
          -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" >> "$OUT/build.log" 2>&1 \
        && cmake --build "$B" -j"$(nproc)" >> "$OUT/build.log" 2>&1; then
      cp "$B"/_core*.so "$B"/_cpuinfo*.so minifloat/ 2>/dev/null
      PWD_SRC="$PWD"
      export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
      importable || { log "the CMake build does not import (see build.log)"; exit 2; }
      log "built with CMake"
    else
      log "no way to build the extension here (see build.log)"
      exit 2
    fi
  fi
fi

log "pytest -m gpu tests/gpu"
"$PY" -m pytest -m gpu tests/gpu -q -p no:cacheprovider > "$OUT/pytest_gpu.log" 2>&1
rc_tests=$?
tail -3 "$OUT/pytest_gpu.log" | tee -a "$OUT/session.log"
log "bench_gpu.py ${QUICK:+--quick}"
"$PY" benchmarks/bench_gpu.py ${QUICK:+--quick} > "$OUT/bench_gpu.txt" 2>&1
rc_bench=$?
cat "$OUT/bench_gpu.txt" | tee -a "$OUT/session.log"
[ "$rc_tests" -ne 0 ] && exit "$rc_tests"
exit "$rc_bench"
