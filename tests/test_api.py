"""Every public function takes a spec string, a Model or an AlgZoo/PyTorch module (one coercion helper)."""

from __future__ import annotations

from types import SimpleNamespace

import networkx as nx
import numpy as np
import pytest

import verifier
from verifier.models.handcrafted import handcrafted

SPEC = "handcrafted:2"


def _module_like(model):
    """An object shaped like AlgZoo's DistRNN (``.rnn.weight_ih_l0``, ...), holding float32 arrays."""
    w_hi, w_hh, w_oh = (a.astype(np.float32) for a in model.arrays)
    return SimpleNamespace(rnn=SimpleNamespace(weight_ih_l0=w_hi.reshape(-1, 1), weight_hh_l0=w_hh, nonlinearity="relu"),
                           linear=SimpleNamespace(weight=w_oh))


CALLS = {
    "certify": lambda f, m: f(m).accuracy.lo,
    "decompose": lambda f, m: len(f(m).pieces),
    "error_closed_form": lambda f, m: str(f(m).expression),
    "estimate_accuracy": lambda f, m: f(m, 1000, seed=3).correct,
    "find_symmetries": lambda f, m: tuple(s.name for s in f(m)),
    "merge_pieces": lambda f, m: f(m).after,
    "perturb": lambda f, m: [c.content_hash for c in f(m, 0.05, 2, 0)],
    "region_graph": lambda f, m: sorted(f(m).edges),
    "standardize": lambda f, m: f(m).model.content_hash,
    "surprise": lambda f, m: f(m).total_bits,
    "load_model": lambda f, m: f(m).content_hash,
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_public_functions_accept_spec_model_and_module(name):
    model = handcrafted(2)
    func, call = getattr(verifier, name), CALLS[name]
    expected = call(func, model)
    assert call(func, SPEC) == expected
    assert call(func, _module_like(model)) == expected


def test_every_public_model_function_is_covered():
    """A new public function taking a model must join CALLS (the others take files, rows or sizes)."""
    takes_other_things = {"LoadError", "Model", "TASKS", "Task", "VerifierError", "check_certificate", "check_claims",
                          "cone_measure", "train", "write_certificate", "write_report"}
    assert set(verifier.__all__) - takes_other_things == set(CALLS)


def test_later_stages_pass_through_and_writers_take_specs(tmp_path):
    dec = verifier.decompose(SPEC)
    assert verifier.region_graph(dec).number_of_nodes() == len(dec.pieces)
    assert isinstance(verifier.region_graph(SPEC), nx.Graph)
    path = verifier.write_certificate(SPEC, tmp_path / "cert.json")
    assert verifier.check_certificate(path).valid


def test_bad_argument_is_one_line_error():
    with pytest.raises(verifier.LoadError, match="cannot load a model from a float"):
        verifier.decompose(1.5)
    with pytest.raises(verifier.VerifierError, match="unknown model spec"):
        verifier.standardize("nope:1")


def test_torch_module(tmp_path):
    torch = pytest.importorskip("torch", reason="torch not installed")
    rnn = torch.nn.Module()
    rnn.rnn = torch.nn.RNN(1, 2, nonlinearity="relu", bias=False, batch_first=True)
    rnn.linear = torch.nn.Linear(2, 2, bias=False)
    model = verifier.load_model(rnn)
    assert np.array_equal(verifier.standardize(rnn).original.arrays[1], model.arrays[1])
