"""hpbench.threads.one_thread limits every BLAS library, also one first loaded inside the block."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_PROBE = """
import json, os
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.pop(v, None)
import numpy, threadpoolctl
from hpbench.threads import one_thread
with one_thread():
    import scipy.linalg  # scipy's own OpenBLAS is loaded here, inside the block
    inside = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
after = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
print(json.dumps({"inside": inside, "after": after}))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one thread is every library's default here")
def test_a_blas_loaded_inside_the_block_runs_on_one_thread_and_the_environment_is_restored() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
    ).stdout
    got = json.loads(out)
    assert len(got["inside"]) >= 2, got  # numpy's and scipy's OpenBLAS
    assert got["inside"] == [1] * len(got["inside"]), got
    assert got["after"] == {"OMP_NUM_THREADS": None, "OPENBLAS_NUM_THREADS": None}
