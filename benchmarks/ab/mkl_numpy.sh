#!/usr/bin/env bash
# A/B: the benchmark on a NumPy built against Intel MKL instead of its wheel's OpenBLAS.
#
# PyTorch's CPU wheel does its matrix products with MKL; NumPy's wheel with OpenBLAS. Where
# tinygrad_mlp trails PyTorch on the CPU, benchmarks/ab/gemm_libraries.py measured the gap in the
# products themselves. This script removes it: it builds NumPy from source against MKL (PyPI's
# mkl-devel wheel: headers, pkg-config files and the libraries), in a virtual environment of its
# own, installs tinygrad_mlp there without dependencies (editable, this checkout) with the
# benchmark's extras, checks that NumPy reports MKL and runs the full CPU benchmark in it.
# Nothing in tinygrad_mlp changes: an MKL NumPy is a user's choice of NumPy.
#
# Usage: bash benchmarks/ab/mkl_numpy.sh [VENV] [OUT] [THREADING]
#   VENV      where to build (default /tmp/mkl-numpy; reused when its NumPy already has MKL)
#   OUT       the benchmark's output folder (default VENV/bench)
#   THREADING MKL's threading layer: iomp (default, Intel OpenMP), gomp, tbb or seq
# Needs: python3 with venv, a C/C++ compiler, pkg-config and PyPI (8 minutes with the build on
# 2 cores; about 2.5 GB of disk with PyTorch). Results measured with it:
# benchmarks/results/cpu-mkl-numpy/ and the README ("With an MKL NumPy").
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=$(realpath -m "${1:-/tmp/mkl-numpy}") # absolute: the benchmark runs from the repository
out=$(realpath -m "${2:-$venv/bench}")
threading=${3:-iomp}
numpy_version=2.4.6 # the version of NumPy's wheel in the project's own environment
mkl_version=2026.2.0
py="$venv/bin/python"

has_mkl() {
    [ -x "$py" ] && "$py" - <<'EOF' 2>/dev/null
import sys
import numpy
blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
sys.exit(0 if "mkl" in str(blas.get("name")) else 1)
EOF
}

if ! has_mkl; then
    python3 -m venv "$venv"
    "$py" -m pip install -q --upgrade pip
    "$py" -m pip install -q meson-python meson ninja cython "mkl-devel==$mkl_version"
    mkdir -p "$venv/src"
    # the build tools (cython, meson) must be on PATH, also for pip's metadata step
    PATH="$venv/bin:$PATH" "$py" -m pip download -q --no-deps --no-binary=:all: \
        --no-build-isolation -d "$venv/src" "numpy==$numpy_version"
    PATH="$venv/bin:$PATH" PKG_CONFIG_PATH="$venv/lib/pkgconfig" "$py" -m pip install -q \
        --no-build-isolation "$venv/src/numpy-$numpy_version.tar.gz" \
        -Csetup-args=-Dblas=mkl -Csetup-args=-Dlapack=mkl \
        -Csetup-args=-Dmkl-threading="$threading" -Csetup-args=-Dallow-noblas=false
    has_mkl || { echo "the NumPy built in $venv does not report MKL" >&2; exit 1; }
fi

# the benchmark's extras, with NumPy held at the MKL build (pip would otherwise replace it)
echo "numpy==$numpy_version" >"$venv/numpy-constraint.txt"
"$py" -m pip install -q -c "$venv/numpy-constraint.txt" \
    scipy scikit-learn matplotlib threadpoolctl "torch==2.13.0"
"$py" -m pip install -q --no-deps -e "$repo"
"$py" -c "import numpy; numpy.show_config()" | grep -A3 '"blas"'
cd "$repo"
"$venv/bin/tinygrad-mlp" bench --device cpu --out "$out"
