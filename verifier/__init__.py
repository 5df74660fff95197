"""verifier: exact, symbolic/polyhedral verification of small ReLU RNNs (ARC's AlgZoo).

The pipeline, one sub-package per stage: :mod:`~verifier.models` (load a model) ->
:mod:`~verifier.geometry` (linear pieces, correct and error cones) -> :mod:`~verifier.measure`
(their Gaussian measure) -> :mod:`~verifier.certify` (add it up) -> :mod:`~verifier.proof`
(certificates and checker) -> :mod:`~verifier.explain` (region graph, symmetries, surprise) ->
:mod:`~verifier.present` (reports, figures, claims); :mod:`~verifier.estimate` samples.
The names below are the notebook API.

>>> import verifier
>>> cert = verifier.certify("handcrafted:2")
>>> cert.error_rate.hi
Fraction(0, 1)
"""

__version__ = "0.1.0"  # before the imports: submodules record it in their outputs

import os

# One BLAS thread unless the user says otherwise: the batched forward passes multiply small
# matrices, where threads only add overhead (2-3x slower on two shared cores). Read when the BLAS
# library loads, so it applies when verifier is imported before numpy (the CLI always is).
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # not OMP: torch training keeps its threads
    os.environ.setdefault(_var, "1")

from importlib import import_module

# ``certify`` is named like its module and imported eagerly: importing the submodule binds its
# name on the package, which would otherwise shadow a lazily loaded function of that name.
# Everything else loads on first use (networkx, sympy, scipy and matplotlib are slow to import).
from .certify import certify
from .errors import LoadError, VerifierError
from .models.model import Model
from .models.tasks import TASKS, Task

_LAZY = {"check_certificate": "proof.checker", "check_claims": "present.claims", "cone_measure": "measure",
         "decompose": "geometry.decomposition", "error_closed_form": "measure.closed_form",
         "estimate_accuracy": "estimate.sampling", "find_symmetries": "explain.symmetry",
         "load_model": "models.loading", "merge_pieces": "explain.region_graph", "perturb": "models.perturb",
         "region_graph": "explain.region_graph", "standardize": "explain.standardize",
         "surprise": "explain.surprise", "train": "models.training", "write_certificate": "proof.certificate",
         "write_report": "present.report"}

__all__ = ["LoadError", "Model", "TASKS", "Task", "VerifierError", "certify", "check_certificate", "check_claims",
           "cone_measure", "decompose", "error_closed_form", "estimate_accuracy", "find_symmetries", "load_model",
           "merge_pieces", "perturb", "region_graph", "standardize", "surprise", "train", "write_certificate",
           "write_report"]


def __getattr__(name: str):
    """The other API functions load on first use (sympy, matplotlib and scipy are slow to import)."""
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'verifier' has no attribute {name!r}")
