"""Training (torch extra): determinism, loss going down, exact float32 export, the CLI, the shipped models."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import verifier
from verifier.cli import main
from verifier.errors import VerifierError
from verifier.models.loading import load_model
from verifier.estimate.sampling import estimate_accuracy, forward
from verifier.models.training import FINAL_LR_FACTOR, lr_factor, train, warmup_steps

DATA = Path(verifier.__file__).parent / "data"
SHIPPED = sorted(DATA.glob("trained_*.json"))


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (the torch extra); training is not testable")


def _weights(m):
    return m.w_hi, m.w_hh, m.w_oh


# -- the recipe's schedule -----------------------------------------------------------------

@pytest.mark.parametrize("steps", [1, 2, 7, 100, 12345])
def test_schedule_warms_up_linearly_then_decays_to_one_percent(steps):
    factors = [lr_factor(s, steps) for s in range(steps)]
    warm = warmup_steps(steps)
    assert factors[-1] == pytest.approx(FINAL_LR_FACTOR) or steps <= warm
    assert max(factors) == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:warm], factors[1:warm]))  # rising during warm-up
    assert all(a > b for a, b in zip(factors[warm - 1:], factors[warm:]))  # falling afterwards
    if steps > warm + 1:  # exponential: constant ratio between consecutive steps after the warm-up
        ratios = [b / a for a, b in zip(factors[warm:], factors[warm + 1:])]
        assert max(ratios) == pytest.approx(min(ratios))


# -- training ----------------------------------------------------------------------------------

def test_short_run_is_deterministic_and_lowers_the_loss(torch):
    threads_before = torch.get_num_threads()
    m1, info1 = train(2, 2, steps=300, seed=5, batch=256, progress=False)
    m2, info2 = train(2, 2, steps=300, seed=5, batch=256, progress=False)
    assert _weights(m1) == _weights(m2) and info1.final_loss == info2.final_loss
    assert _weights(train(2, 2, steps=3, seed=6, batch=256, progress=False)[0]) != \
        _weights(train(2, 2, steps=3, seed=5, batch=256, progress=False)[0])
    assert info1.final_loss < 0.8 * info1.first_loss
    assert m1.precision == "float32" and (m1.d, m1.n) == (2, 2)
    assert (info1.steps, info1.seed, info1.batch, info1.threads) == (300, 5, 256, 1)
    assert torch.get_num_threads() == threads_before  # the run's thread setting is undone


def test_exported_model_matches_the_torch_module(torch):
    from verifier.models.training import build_module, module_to_model

    model, _ = train(3, 4, steps=50, seed=2, batch=64, progress=False)
    module = build_module(3, 4)
    w_hi, w_hh, w_oh = model.arrays
    module.load_state_dict({"rnn.weight_ih_l0": torch.tensor(w_hi.reshape(-1, 1), dtype=torch.float32),
                            "rnn.weight_hh_l0": torch.tensor(w_hh, dtype=torch.float32),
                            "linear.weight": torch.tensor(w_oh, dtype=torch.float32)})
    assert _weights(module_to_model(module)) == _weights(model)  # float32 values carried over exactly
    x = np.random.default_rng(0).standard_normal((2000, 4)).astype(np.float32)
    with torch.no_grad():
        torch_logits = module(torch.from_numpy(x)).numpy()
    numpy_logits = forward(model, x.astype(np.float64))
    assert np.max(np.abs(torch_logits - numpy_logits)) < 1e-5 * max(1.0, np.max(np.abs(numpy_logits)))


def test_other_task_trains(torch):
    model, info = train(2, 3, steps=20, seed=0, task="argmedian", batch=32, progress=False)
    assert model.task.name == "argmedian" and info.task == "argmedian"


@pytest.mark.parametrize("kwargs", [dict(steps=0, seed=0), dict(steps=10, seed=-1), dict(steps=10, seed=0, batch=0),
                                    dict(steps=10, seed=0, task="nope"), dict(steps=10, seed=0, threads=0)])
def test_bad_training_arguments_raise(kwargs):
    with pytest.raises(VerifierError):
        train(2, 2, progress=False, **kwargs)


def test_sequence_length_one_is_rejected():
    with pytest.raises(VerifierError):
        train(2, 1, steps=10, seed=0, progress=False)


# -- the CLI -------------------------------------------------------------------------------------

def test_cli_train_writes_a_file_that_loads_back_identically(torch, tmp_path, capsys):
    out = tmp_path / "tiny.json"
    code = main(["--json", "train", "2", "2", "--steps", "200", "--seed", "3", "--batch", "128",
                 "--eval-samples", "20000", "-o", str(out)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    loaded = load_model(str(out))
    direct, info = train(2, 2, steps=200, seed=3, batch=128, progress=False)
    assert _weights(loaded) == _weights(direct) and loaded.precision == "float32"
    assert data["sha256_exact"] == loaded.content_hash == direct.content_hash
    meta = json.loads(out.read_text())["meta"]
    assert meta["command"] == f"verifier train 2 2 --steps 200 --seed 3 --task 2nd_argmax --batch 128 -o {out}"
    assert (meta["seed"], meta["steps"], meta["batch"], meta["final_loss"]) == (3, 200, 128, info.final_loss)
    assert meta["accuracy_samples"] == 20000
    assert meta["accuracy"] == estimate_accuracy(loaded, 20000, seed=meta["accuracy_seed"]).accuracy


@pytest.mark.parametrize("args", [["-o", "x.txt"], ["-o", "missing_folder/x.json"], ["--steps", "0"],
                                  ["--seed", "-1"], ["--eval-samples", "-5"]])
def test_cli_train_bad_arguments_exit_2_with_one_line(tmp_path, capsys, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    base = ["train", "2", "2", "--steps", "10", "--seed", "0", "-o", "ok.json"]
    assert main(base + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("verifier: error: ") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_without_torch_the_package_works_and_train_says_how_to_install(tmp_path):
    script = (
        "import sys\n"
        "sys.modules['torch'] = None  # makes 'import torch' fail as if it were not installed\n"
        "import verifier, verifier.models.training, verifier.models.perturb, verifier.cli\n"
        "from verifier.models.model import Model\n"
        "from verifier.models.perturb import perturb\n"
        "m = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]])\n"
        "assert len(perturb(m, 0.05, 2, seed=0)) == 2\n"
        f"sys.exit(verifier.cli.main(['train', '2', '2', '--steps', '5', '--seed', '0', '-o', {str(tmp_path / 'm.json')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("verifier: error: ")
    assert "install the torch extra: pip install torch==2.13.0" in proc.stderr
    assert not (tmp_path / "m.json").exists()


# -- the shipped built-in models -----------------------------------------------------------------

def test_the_required_built_ins_are_shipped():
    shapes = {tuple(int(v) for v in re.fullmatch(r"trained_(\d+)_(\d+)", p.stem).groups()) for p in SHIPPED}
    assert {(2, 2), (3, 3), (4, 3)} <= shapes
    assert any(4 <= d <= 8 and 4 <= n <= 5 for d, n in shapes)
    assert (DATA / "TRAINED.md").is_file()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_model_matches_its_record(path):
    doc = json.loads(path.read_text())
    meta = doc["meta"]
    d, n = (int(v) for v in re.fullmatch(r"trained_(\d+)_(\d+)", path.stem).groups())
    model = load_model(str(path))
    assert (model.d, model.n, meta["d"], meta["n"]) == (d, n, d, n)
    assert model.precision == "float32" and model.content_hash == doc["sha256_exact"]
    assert meta["command"].startswith(f"verifier train {d} {n} --steps {meta['steps']} --seed {meta['seed']} ")
    assert meta["final_loss"] < meta["first_loss"]
    # an independent Monte Carlo check (different seed) of the recorded accuracy, within 4 standard errors
    est = estimate_accuracy(model, 200_000, seed=meta["accuracy_seed"] + 1)
    combined = math.sqrt(est.stderr ** 2 + meta["accuracy_stderr"] ** 2)
    assert abs(est.accuracy - meta["accuracy"]) <= 4 * max(combined, 1 / 200_000)
    assert meta["accuracy_samples"] >= 10**6
