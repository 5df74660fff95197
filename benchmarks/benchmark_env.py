"""Shared by the benchmark scripts: one BLAS thread (the verifier is single-threaded, and on two
shared cores threaded BLAS slows sampling ~4x) and a one-line description of the machine.

Import it before numpy: the thread counts are read when the BLAS library loads.
"""

import os
import platform

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def machine() -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average at start {load}")
