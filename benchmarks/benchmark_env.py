"""Shared by the benchmark scripts: one BLAS thread (the verifier is single-threaded, and on two
shared cores threaded BLAS slows sampling ~4x), a one-line description of the machine, and the
notes on a certify command's row (partial, budget held).

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


def run_notes(r: dict) -> list[str]:
    """Notes on one ``verifier certify --json`` row: why it is partial, and whether its time budget
    held (within 10% or 2 s, whichever is larger)."""
    notes = []
    if not r["complete"]:
        notes.append(f"PARTIAL ({r['stop_reason']})")
    if r["budget_s"] is not None:
        limit = r["budget_s"] + max(0.1 * r["budget_s"], 2.0)
        notes.append(f"budget {r['budget_s']:g} s {'held' if r['wall_s'] <= limit else 'EXCEEDED'}")
    return notes
