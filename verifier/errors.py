"""Errors a user can act on.

Every failure caused by the user's input (a bad file, an unknown model name, a
budget that is too small) is a :class:`VerifierError` with a one-line message;
the CLI prints it and exits non-zero instead of showing a traceback.
"""


class VerifierError(Exception):
    """A problem with the user's input, reported as one line."""


class LoadError(VerifierError):
    """A model could not be loaded: missing, malformed, unsafe or invalid weights."""
