"""Noisy copies: determinism, exact float32 weights, noise statistics, and the ``verifier perturb`` CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from verifier.cli import main
from verifier.errors import VerifierError
from verifier.models.model import Model
from verifier.models.perturb import perturb
from verifier.models.weightfile import load_json, save_json


def _random_float32_model(d: int, n: int, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    return Model.from_arrays(rng.standard_normal((d, 1)).astype(np.float32),
                             rng.standard_normal((d, d)).astype(np.float32),
                             rng.standard_normal((n, d)).astype(np.float32), name="parent")


PARENT = _random_float32_model(4, 3, seed=7)


def _weights(m: Model):
    return m.w_hi, m.w_hh, m.w_oh


def _deltas(parent: Model, copies) -> np.ndarray:
    """All weight differences (noisy - parent) as float64, computed from the exact rationals."""
    return np.array([float(c - p) for copy in copies for cm, pm in zip(_weights(copy), _weights(parent))
                     for crow, prow in zip(cm, pm) for c, p in zip(crow, prow)])


def test_same_seed_same_copies_and_different_seeds_differ():
    a = perturb(PARENT, 0.05, 4, seed=3)
    b = perturb(PARENT, 0.05, 4, seed=3)
    c = perturb(PARENT, 0.05, 4, seed=4)
    assert [_weights(m) for m in a] == [_weights(m) for m in b]
    assert all(_weights(x) != _weights(y) for x, y in zip(a, c))
    assert len({m.content_hash for m in a}) == 4  # the copies differ from each other


def test_copy_i_does_not_depend_on_count():
    few = perturb(PARENT, 0.05, 2, seed=9)
    many = perturb(PARENT, 0.05, 5, seed=9)
    assert [_weights(m) for m in few] == [_weights(m) for m in many[:2]]


def test_sigma_zero_gives_identical_weights():
    for copy in perturb(PARENT, 0.0, 3, seed=1):
        assert _weights(copy) == _weights(PARENT)
        assert copy.content_hash == PARENT.content_hash


def test_every_noisy_weight_is_exactly_a_float32():
    for copy in perturb(PARENT, 0.05, 5, seed=2):
        assert copy.precision == "float32"
        for mat in _weights(copy):
            for row in mat:
                for v in row:
                    assert float(np.float32(float(v))) == v  # the exact rational is a float32 value


def test_noise_statistics():
    sigma, count = 0.05, 2000
    deltas = _deltas(PARENT, perturb(PARENT, sigma, count, seed=5))
    k = deltas.size  # 32 weights x 2000 copies = 64,000 draws
    assert k == 32 * count
    # mean: standard error sigma/sqrt(k); std: relative standard error ~ 1/sqrt(2k); allow 5 of each
    assert abs(deltas.mean()) < 5 * sigma / math.sqrt(k)
    assert abs(deltas.std() / sigma - 1) < 5 / math.sqrt(2 * k)
    # Gaussian shape: about 68.27% within one sigma (binomial standard error ~0.0018)
    assert abs(np.mean(np.abs(deltas) < sigma) - 0.6827) < 0.01


def test_noise_is_independent_across_weights():
    deltas = _deltas(PARENT, perturb(PARENT, 1.0, 1500, seed=6)).reshape(1500, 32)
    corr = np.corrcoef(deltas, rowvar=False)
    off_diagonal = corr[~np.eye(32, dtype=bool)]
    assert np.max(np.abs(off_diagonal)) < 5 / math.sqrt(1500) + 0.02


@pytest.mark.parametrize("sigma,count,seed", [(-0.1, 1, 0), (math.nan, 1, 0), (math.inf, 1, 0),
                                              (0.05, 0, 0), (0.05, 1.5, 0), (0.05, 1, -1)])
def test_bad_arguments_raise(sigma, count, seed):
    with pytest.raises(VerifierError):
        perturb(PARENT, sigma, count, seed)


def test_cli_round_trip(tmp_path, capsys):
    parent_path = save_json(PARENT, tmp_path / "m43.json")
    out = tmp_path / "noisy" / "deeper"
    code = main(["--json", "perturb", str(parent_path), "--sigma", "0.05", "--count", "3", "--seed", "11",
                 "-o", str(out)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    expected = [str(out / f"m43_noisy_{i:03d}.json") for i in range(3)]
    assert data["files"] == expected
    assert data["parent_sha256_exact"] == PARENT.content_hash
    copies = perturb(PARENT, 0.05, 3, seed=11)
    for i, (path, copy) in enumerate(zip(expected, copies)):
        loaded = load_json(path)
        assert _weights(loaded) == _weights(copy)
        assert loaded.precision == "float32"
        meta = json.loads(open(path).read())["meta"]
        assert meta == {"parent": str(parent_path), "parent_sha256_exact": PARENT.content_hash,
                        "sigma": 0.05, "seed": 11, "index": i}


def test_cli_text_lists_the_files(tmp_path, capsys):
    parent_path = save_json(PARENT, tmp_path / "p.json")
    assert main(["perturb", str(parent_path), "--count", "2", "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "o" / "p_noisy_001.json") in out


@pytest.mark.parametrize("extra", [["--sigma", "-1"], ["--sigma", "nan"], ["--sigma", "inf"],
                                   ["--count", "0"], ["--seed", "-3"]])
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra):
    parent_path = save_json(PARENT, tmp_path / "p.json")
    args = ["perturb", str(parent_path), "--count", "2", "-o", str(tmp_path / "o")] + extra
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("verifier: error: ") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing written on bad arguments


def test_cli_uncreatable_folder_exits_2(tmp_path, capsys):
    parent_path = save_json(PARENT, tmp_path / "p.json")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["perturb", str(parent_path), "--count", "1", "-o", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("verifier: error: ") and err.count("\n") == 1 and "cannot create folder" in err
