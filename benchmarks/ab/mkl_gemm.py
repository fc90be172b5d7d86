"""Prototype, not adopted: tinygrad_mlp's CPU step with its large matrix products done by MKL.

``gemm_libraries.py`` shows that PyTorch's lead on the CPU is its matrix-product library (MKL
against NumPy's OpenBLAS). This checks whether tinygrad_mlp would close the gap by calling MKL
itself: the fast NumPy namespace's ``matmul`` is replaced, in this script only, by one that
sends 2-D float products of at least ``MIN_MNK`` multiply-adds to MKL's ``cblas_?gemm`` (ctypes,
``libmkl_rt`` from the ``mkl`` wheel) and everything else to NumPy. Variants, each in its own
process, alternating over ``ROUNDS``:

- ``openblas``: tinygrad_mlp as shipped;
- ``mkl``: large products by MKL, with OpenBLAS at one thread for the whole process
  (``OPENBLAS_NUM_THREADS=1``: NumPy's and SciPy's, whose axpy updates run on one thread
  anyway); the sums that went through OpenBLAS's threaded matrix-vector product go through
  NumPy's reduction instead;
- ``mkl-openblas2``: the same, OpenBLAS at its default two threads;
- ``torch``: PyTorch's eager step (``eager_floor.torch_steps``).

In the NumPy variants tinygrad_mlp's step alternates with the hand-written NumPy step
(``bench.reference``, plain ``@``: OpenBLAS), as in the benchmark. Needs ``pip install mkl``
(here the 2026.2.0 wheel; torch 2.13.0 has MKL 2024.2 built in) and PyTorch; Linux only (the
library path).

On the 2-core Xeon, 2026-12-01 (this file's commit; the mean of 2 processes a variant; ms per
step, tinygrad_mlp / by hand; large = 784-512-128-64-10):

| network, batch, dtype | openblas | mkl | mkl-openblas2 | torch | mkl tinygrad / torch |
|---|---|---|---|---|---|
| large, 32, float32 | 1.267 / 1.143 | 1.161 / 1.252 | 2.471 / 1.603 | 1.206 | 0.96 |
| large, 128, float32 | 2.125 / 2.010 | 1.889 / 2.597 | 9.778 / 2.498 | 2.012 | 0.94 |
| large, 1024, float32 | 9.889 / 9.824 | 9.327 / 16.048 | 21.604 / 10.979 | 9.061 | 1.03 |
| 784-50-10, 1024, float32 | 1.466 / 1.445 | 1.421 / 2.066 | 2.937 / 1.859 | 1.581 | 0.90 |
| 64-64-16-10, 1024, float32 | 0.567 / 0.598 | 0.677 / 0.641 | 1.634 / 0.773 | 0.859 | 0.79 |
| large, 32, float64 | 1.843 / 1.818 | 1.720 / 2.227 | 3.975 / 2.557 | 1.741 | 0.99 |
| large, 128, float64 | 3.631 / 3.615 | 3.291 / 5.195 | 13.924 / 4.333 | 3.232 | 1.02 |
| large, 1024, float64 | 20.253 / 19.999 | 17.958 / 35.523 | 40.286 / 21.130 | 18.599 | 0.97 |
| 784-50-10, 1024, float64 | 2.652 / 2.636 | 2.300 / 3.986 | 7.137 / 3.019 | 2.277 | 1.01 |
| 64-64-16-10, 1024, float64 | 0.938 / 0.932 | 1.012 / 1.109 | 2.259 / 1.102 | 1.108 | 0.91 |

Not adopted. On the large network and 784-50-10, MKL brings tinygrad_mlp's step to 0.90-1.03x
PyTorch's (its OpenBLAS step: 0.93-1.16x; MKL / OpenBLAS step 0.87-0.97x). On 64-64-16-10,
already faster than PyTorch, it makes the step 1.08-1.19x slower. And it needs OpenBLAS at one
thread for the whole process: any other NumPy product in it (the user's, the hand-written
step's) then runs slower (here 1.07-1.78x). With both libraries threaded, each one's idle
threads spin on the two cores while the other works: tinygrad_mlp's step ran 1.95-4.60x slower
than its OpenBLAS step, the hand-written one 1.06-1.41x. Scratch runs (not in this script) with
shorter spinning did not help: ``KMP_BLOCKTIME=0`` (MKL's threads sleep at once; OpenBLAS at two
threads and the sums still through it) made the large network's MKL step 18.0 ms at batch 1024
in float32 (OpenBLAS: 9.7-10.1 ms) and 3.0 ms at 128 (2.2-2.3 ms); ``KMP_BLOCKTIME=1`` (ms),
alternating with the hand-written step, left it at 3.19 ms at 128 (2.27 ms with OpenBLAS).
``OPENBLAS_THREAD_TIMEOUT`` was not tried. A bridge to a second threaded BLAS is a process-wide
trap; a NumPy built on MKL would have one BLAS for NumPy's own products, and needs no change
here (not measured: no such NumPy build was at hand).

    python benchmarks/ab/mkl_gemm.py
"""

import ctypes
import functools
import json
import os
import subprocess
import sys

import numpy as np
from eager_floor import calibrated_ms, torch_steps

MIN_MNK = 200_000
ROUNDS = 2
VARIANTS = {
    "openblas": {},
    "mkl": {"OPENBLAS_NUM_THREADS": "1"},
    "mkl-openblas2": {},
    "torch": {},
}
CASES = [
    ("784-512-128-64-10", 32),
    ("784-512-128-64-10", 128),
    ("784-512-128-64-10", 1024),
    ("784-50-10", 1024),
    ("64-64-16-10", 1024),
]


def mkl_matmul():
    """A ``matmul(a, b, out=None)`` that hands large 2-D float products to MKL's cblas_?gemm."""
    lib = ctypes.CDLL(os.path.join(sys.prefix, "lib", "libmkl_rt.so.3"))
    gemms = {}
    for name, ctype, dtype in (
        ("sgemm", ctypes.c_float, "float32"),
        ("dgemm", ctypes.c_double, "float64"),
    ):
        gemm = getattr(lib, "cblas_" + name)
        ints, ptr = [ctypes.c_int] * 6, ctypes.c_void_p
        gemm.argtypes = [
            *ints,
            ctype,
            ptr,
            ctypes.c_int,
            ptr,
            ctypes.c_int,
            ctype,
            ptr,
            ctypes.c_int,
        ]
        gemms[np.dtype(dtype)] = gemm
    row_major, no_trans, trans = 101, 111, 112
    numpy_matmul = np.matmul

    def matmul(a, b, out=None):
        gemm = gemms.get(getattr(a, "dtype", None))
        if (
            gemm
            and type(a) is type(b) is np.ndarray
            and a.ndim == b.ndim == 2
            and a.dtype == b.dtype
        ):
            (m, k), n = a.shape, b.shape[1]
            if m * n * k >= MIN_MNK and b.shape[0] == k and a.flags.forc and b.flags.forc:
                if out is None:
                    out = np.empty((m, n), a.dtype)
                elif not _fits(out, (m, n), a, b):
                    return numpy_matmul(a, b, out=out)
                ta, lda = (no_trans, k) if a.flags.c_contiguous else (trans, m)
                tb, ldb = (no_trans, n) if b.flags.c_contiguous else (trans, k)
                gemm(row_major, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb,
                     0.0, out.ctypes.data, n)  # fmt: skip
                return out
        return numpy_matmul(a, b) if out is None else numpy_matmul(a, b, out=out)

    return matmul


def _fits(out, shape, a, b) -> bool:
    """Whether MKL may write the product into ``out``: a writeable C-ordered array of the
    product's shape and dtype that shares no memory with the operands."""
    return (
        type(out) is np.ndarray
        and out.shape == shape
        and out.dtype == a.dtype
        and out.flags.c_contiguous
        and out.flags.writeable
        and not np.shares_memory(out, a)
        and not np.shares_memory(out, b)
    )


def self_check(matmul) -> None:
    """The layouts are read right: every operand order (C, F) in both dtypes, into a fresh
    result and into ``out=``; an ``out`` that MKL must not take goes to NumPy."""
    rng = np.random.default_rng(1)
    for dtype in ("float32", "float64"):
        a0, b0 = rng.standard_normal((300, 700)), rng.standard_normal((700, 500))
        a0, b0 = a0.astype(dtype), b0.astype(dtype)
        for a in (a0, np.asfortranarray(a0)):
            for b in (b0, np.asfortranarray(b0)):
                want = a0.astype("float64") @ b0.astype("float64")
                tol = 1e-3 if dtype == "float32" else 1e-10
                assert np.allclose(matmul(a, b), want, rtol=tol, atol=tol)
                out = np.empty((500, 300), dtype).T  # F-ordered: NumPy's job
                assert matmul(a, b, out=out) is out and np.allclose(out, want, rtol=tol, atol=tol)


def side(variant: str) -> None:
    """Print [case, ms of each timed function] per case: tinygrad_mlp's step and the
    hand-written NumPy step (``bench.reference``, plain ``@``: OpenBLAS) alternating, as in the
    benchmark; or PyTorch's eager step."""
    from gemm_libraries import case_data, numpy_side

    from tinygrad_mlp.bench import reference

    if variant.startswith("mkl"):
        from tinygrad_mlp import backend, cpu

        matmul = mkl_matmul()
        self_check(matmul)
        backend.namespace(np.zeros(1)).matmul = matmul
        cpu._sum_2d = lambda a, axis, keepdims: None  # no threaded OpenBLAS gemv for the sums
    for dtype in ("float32", "float64"):
        for net, batch in CASES:
            sizes, params, x, y = case_data(net, batch, dtype)
            if variant == "torch":
                fns = (torch_steps(params, x, y)[0],)
            else:
                ref = reference.NumpyMLP(params, lr=1e-4)
                fns = (numpy_side(net, batch, dtype)[0], functools.partial(ref.step, x, y))
            print(
                json.dumps([f"{net}, {batch}, {dtype}", calibrated_ms(fns, blocks=11)]), flush=True
            )


def main() -> None:
    runs: dict[str, dict[str, list[list[float]]]] = {}
    for _ in range(ROUNDS):
        for variant, env in VARIANTS.items():
            out = subprocess.run(
                [sys.executable, __file__, variant],
                env={**os.environ, **env},
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for line in out.splitlines():
                case, ms = json.loads(line)
                runs.setdefault(case, {}).setdefault(variant, []).append(ms)
    heads = [f"{v}: tinygrad / by hand" for v in VARIANTS if v != "torch"]
    print("| network, batch, dtype | " + " | ".join(heads) + " | torch | MKL tinygrad / torch |")
    print("|---" * (len(heads) + 3) + "|")
    for case, by in runs.items():
        ms = {v: np.median(np.array(by[v]), axis=0) for v in VARIANTS}
        cells = [f"{ms[v][0]:.3f} / {ms[v][1]:.3f}" for v in VARIANTS if v != "torch"]
        ratio = ms["mkl"][0] / ms["torch"][0]
        print(f"| {case} | " + " | ".join(cells) + f" | {ms['torch'][0]:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        side(sys.argv[1])
    else:
        main()
