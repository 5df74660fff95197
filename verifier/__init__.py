"""verifier: exact, symbolic/polyhedral verification of small ReLU RNNs (ARC's AlgZoo)."""

from .errors import LoadError, VerifierError
from .model import Model
from .tasks import TASKS, Task

__all__ = ["LoadError", "Model", "TASKS", "Task", "VerifierError"]
__version__ = "0.1.0"
