"""Shared test configuration: Hypothesis profiles and the array backends the op suite runs on.

Profiles (choose with the environment variable HYPOTHESIS_PROFILE):
- ``ci`` (default): deterministic (derandomized), few examples, no example database; the whole
  suite stays within a few minutes on a 2-core machine.
- ``dev``: random, 200 examples per property, for local runs.
- ``deep``: 2,000 examples per property, for a long hunt before a release.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from tinygrad_mlp import backend

_common = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", max_examples=25, derandomize=True, database=None, **_common)
settings.register_profile("dev", max_examples=200, **_common)
settings.register_profile("deep", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The op suite runs once per backend: NumPy, array-api-strict (proves the engine only uses the
# standard array API, hence runs on CuPy) and CuPy itself where a GPU is present. array-api-strict
# is part of the [dev] extra, so it is never skipped silently.
DEVICES = ["cpu", "array_api_strict"] + (["cuda"] if backend.is_available("cuda") else [])


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    """Tests run with one BLAS thread: results and run time do not depend on how busy the
    machine's other cores are (speed is measured by the benchmark, never by tests)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn (dev extra)
        yield
        return
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(params=DEVICES)
def device(request):
    """Every array backend of this machine, in turn."""
    return request.param
