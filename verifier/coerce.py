"""One way to take a model argument, shared by every public function.

A caller may pass a spec string (``"zoo:2nd_argmax:2:2"``, a file path), a :class:`~verifier.Model`,
an AlgZoo/PyTorch module or a state_dict; functions that work on a later stage of the pipeline
also take that stage's result (a decomposition, a certification, a region graph) and build it
otherwise, without a budget.

>>> as_decomposition("handcrafted:2").complete
True
"""

from __future__ import annotations


def as_model(value):
    """A :class:`~verifier.models.model.Model` from anything :func:`~verifier.models.loading.load_model` accepts."""
    from .models.loading import load_model

    return load_model(value)


def as_decomposition(value):
    """``value`` if it is a decomposition, else the complete decomposition of the model it names."""
    from .geometry.decomposition import Decomposition, decompose

    return value if isinstance(value, Decomposition) else decompose(as_model(value))


def as_certification(value):
    """``value`` if it is a certification, else the certification of the model it names."""
    from .certify import Certification, certify
    from .certify_median import MSECertification

    return value if isinstance(value, (Certification, MSECertification)) else certify(as_model(value))


def as_region_graph(value):
    """``value`` if it is a region graph (a networkx graph), else the region graph of what it names."""
    import networkx as nx

    from .explain.region_graph import region_graph

    return value if isinstance(value, nx.Graph) else region_graph(as_decomposition(value))
