"""verifier: exact, symbolic/polyhedral verification of small ReLU RNNs (ARC's AlgZoo).

The pipeline, one module per stage: :mod:`~verifier.model` and :mod:`~verifier.loading` ->
:mod:`~verifier.decomposition` -> :mod:`~verifier.outcome` -> :mod:`~verifier.region_graph` ->
:mod:`~verifier.measure` -> :mod:`~verifier.certify` -> :mod:`~verifier.certificate` /
:mod:`~verifier.checker` -> :mod:`~verifier.report`, :mod:`~verifier.surprise`,
:mod:`~verifier.claims`. The names below are the notebook API.

>>> import verifier
>>> cert = verifier.certify("handcrafted:2")
>>> cert.error_rate.hi
Fraction(0, 1)
"""

__version__ = "0.1.0"  # before the imports: submodules record it in their outputs

from importlib import import_module

# Functions named like their module are imported eagerly: importing a submodule binds its
# name on the package, which would otherwise shadow a lazily loaded function of that name.
from .certify import certify
from .errors import LoadError, VerifierError
from .model import Model
from .perturb import perturb
from .region_graph import merge_pieces, region_graph
from .standardize import standardize
from .surprise import surprise
from .tasks import TASKS, Task

_LAZY = {"check_certificate": "checker", "check_claims": "claims", "cone_measure": "measure",
         "decompose": "decomposition", "error_closed_form": "closed_form", "estimate_accuracy": "sampling",
         "find_symmetries": "symmetry", "load_model": "loading", "train": "training",
         "write_certificate": "certificate", "write_report": "report"}

__all__ = ["LoadError", "Model", "TASKS", "Task", "VerifierError", "certify", "check_certificate", "check_claims",
           "cone_measure", "decompose", "error_closed_form", "estimate_accuracy", "find_symmetries", "load_model",
           "merge_pieces", "perturb", "region_graph", "standardize", "surprise", "train", "write_certificate",
           "write_report"]


def __getattr__(name: str):
    """The other API functions load on first use (sympy, matplotlib and scipy are slow to import)."""
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'verifier' has no attribute {name!r}")
