#!/usr/bin/env bash
# A/B: the benchmark on a NumPy built against Intel MKL instead of its wheel's OpenBLAS.
#
# PyTorch's CPU wheel does its matrix products with MKL; NumPy's wheel with OpenBLAS. Where
# tinygrad_mlp trails PyTorch on the CPU, benchmarks/ab/gemm_libraries.py measured the gap in the
# products themselves. This script removes it: it builds NumPy from source against MKL (PyPI's
# mkl-devel wheel: headers, pkg-config files and the libraries), in a virtual environment of its
# own, installs tinygrad_mlp there (editable, this checkout) with the benchmark's and the test
# suite's extras, checks that NumPy reports MKL and runs the full CPU benchmark in it.
# Nothing in tinygrad_mlp changes: an MKL NumPy is a user's choice of NumPy.
#
# Usage: bash benchmarks/ab/mkl_numpy.sh [VENV] [OUT] [THREADING]
#   VENV      a new folder to build in (default /tmp/mkl-numpy; reused when this script made it
#             and its NumPy has MKL with THREADING)
#   OUT       the benchmark's output folder (default VENV/bench)
#   THREADING MKL's threading layer: iomp (default, Intel OpenMP), gomp, tbb or seq
# Needs: python3 with venv, a C/C++ compiler, pkg-config and PyPI (a fresh venv, the build and
# the benchmark: 4 min 43 s on 2 cores; 2.4 GB of disk with PyTorch). Results measured with it:
# benchmarks/results/cpu-mkl-numpy/ and benchmarks/README.md ("With an MKL NumPy").
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
absolute() { python3 -c 'import os, sys; print(os.path.abspath(sys.argv[1]))' "$1"; }
venv=$(absolute "${1:-/tmp/mkl-numpy}") # absolute: the benchmark runs from the repository
out=$(absolute "${2:-$venv/bench}")
threading=${3:-iomp}
numpy_version=2.4.6 # the version of NumPy's wheel in the project's own environment
mkl_version=2026.2.0
py="$venv/bin/python"

has_mkl() { # NumPy in VENV was built with MKL and this threading layer
    [ -x "$py" ] && THREADING="$threading" "$py" - <<'EOF' 2>/dev/null
import os
import sys
import numpy
name = str(numpy.show_config(mode="dicts")["Build Dependencies"]["blas"].get("name"))
sys.exit(0 if name.startswith("mkl") and name.endswith("-" + os.environ["THREADING"]) else 1)
EOF
}

if ! has_mkl; then
    if [ -e "$venv" ] && [ ! -e "$venv/.mkl-numpy" ]; then
        echo "$venv exists and was not made by this script: give a new folder (pip would replace" \
            "the NumPy of any venv there)" >&2
        exit 2
    fi
    python3 -m venv "$venv"
    touch "$venv/.mkl-numpy"
    "$py" -m pip install -q --upgrade pip
    "$py" -m pip install -q meson-python meson ninja cython "mkl-devel==$mkl_version"
    # one build from PyPI's sdist (no cached wheel: it may have other settings); cython and
    # meson must be on PATH (no build isolation)
    PATH="$venv/bin:$PATH" PKG_CONFIG_PATH="$venv/lib/pkgconfig" "$py" -m pip install -q \
        --force-reinstall --no-deps --no-binary numpy --no-build-isolation --no-cache-dir \
        "numpy==$numpy_version" \
        -Csetup-args=-Dblas=mkl -Csetup-args=-Dlapack=mkl \
        -Csetup-args=-Dmkl-threading="$threading" -Csetup-args=-Dallow-noblas=false
    has_mkl || { echo "the NumPy built in $venv does not report MKL ($threading)" >&2; exit 1; }
fi

# the benchmark's extras, with NumPy held at the MKL build (pip would otherwise replace it);
# torch==2.13.0 is the CPU build here (a local wheel); elsewhere PyPI's default is a CUDA build:
# add --extra-index-url https://download.pytorch.org/whl/cpu for the CPU one
echo "numpy==$numpy_version" >"$venv/numpy-constraint.txt"
"$py" -m pip install -q -c "$venv/numpy-constraint.txt" \
    scipy scikit-learn matplotlib threadpoolctl "torch==2.13.0"
# this checkout with its test extras: `PATH=VENV/bin:$PATH VENV/bin/python -m pytest`, run from
# the repository, runs the suite on MKL (the PATH for the console-script tests)
"$py" -m pip install -q -c "$venv/numpy-constraint.txt" -e "$repo[dev]"
"$py" -c 'import json, numpy
print("NumPy", numpy.__version__, "BLAS:", json.dumps(
    numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]))'
cd "$repo"
"$venv/bin/tinygrad-mlp" bench --device cpu --out "$out"
