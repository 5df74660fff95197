"""Proof certificates: valid ones check, and every single tampered number is rejected by name.

The checker's own derivations are tested against independent computations (the model's exact
forward pass, Monte Carlo); the mutation test walks the whole document and edits one thing at
a time.
"""

from __future__ import annotations

import copy
import json
import math
import random
from fractions import Fraction

import numpy as np
import pytest

from verifier.proof.certificate import certificate_document, dumps_certificate, write_certificate
from verifier.certify import certify
from verifier.estimate.sampling import estimate_accuracy
from verifier.proof.checker import CheckReport, check_certificate, outcome_cones, piece_maps, sign_holds
from verifier.cli import main
from verifier.geometry.cones import cone, generators
from verifier.exact import rational_str
from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.models.weightfile import save_json

PERFECT = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]], name="perfect")
# h_2 = ReLU(x1), logits (-h, h): where x1 < 0 both logits are 0 and the first (position 0) wins
# the tie, so the prediction is 1 iff x1 > 0; right iff 0 < x1 < x0 or x0 < x1 < 0: accuracy 1/4.
TIED = Model.from_arrays([[1]], [[0]], [[-1], [1]], name="tied")
# A zero readout: every logit is 0, the prediction is always 0, right iff x0 < x1: accuracy 1/2.
SILENT = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[0, 0], [0, 0]], name="silent")


def random_model(seed: int, d: int, n: int) -> Model:
    rng = np.random.default_rng(seed)
    return Model.from_arrays(*(rng.standard_normal(shape).astype(np.float32) for shape in ((d, 1), (d, d), (n, d))),
                             name=f"random-{seed}")


_DOCS: dict = {}


def document(model: Model) -> dict:
    """The certificate of a model (cached; tests copy before editing)."""
    key = (model.content_hash, model.name)
    if key not in _DOCS:
        _DOCS[key] = certificate_document(certify(model))
    return _DOCS[key]


# -- the checker's independent derivations ------------------------------------------------

def _pattern_at(model: Model, x) -> tuple[tuple[bool, ...], ...]:
    """Activation pattern at a point from the model's exact forward pass (pre-activation > 0)."""
    h = [Fraction(0)] * model.d
    bits = []
    for t, xt in enumerate(x):
        pre = [sum((w * hj for w, hj in zip(row, h)), Fraction(0)) + model.w_hi[i][0] * xt
               for i, row in enumerate(model.w_hh)]
        bits.append(tuple(p > 0 for p in pre))
        h = [max(p, Fraction(0)) for p in pre]
    return tuple(bits)


@pytest.mark.parametrize("seed", range(6))
def test_piece_maps_agree_with_the_forward_pass(seed):
    model = random_model(seed, 3, 3)
    rng = random.Random(seed)
    for _ in range(10):
        x = [Fraction(rng.randint(-50, 50), rng.randint(1, 9)) for _ in range(model.n)]
        pattern = _pattern_at(model, x)
        maps, logits = piece_maps(model, pattern)
        assert tuple(sum((a * b for a, b in zip(row, x)), Fraction(0)) for row in logits) == model.logits_exact(x)
        hidden = model.hidden_exact(x)
        for t in range(1, model.n):  # pre-activations at step t from the exact hidden state h_t
            expected = [sum((w * hj for w, hj in zip(row, hidden[t - 1])), Fraction(0)) + model.w_hi[i][0] * x[t]
                        for i, row in enumerate(model.w_hh)]
            assert [sum((a * b for a, b in zip(row, x)), Fraction(0)) for row in maps[t]] == expected


def test_piece_maps_partial_pattern_stops_at_the_undecided_step():
    maps, logits = piece_maps(PERFECT, [(True, False), (False,)])
    assert logits is None and len(maps) == 2
    assert [[str(v) for v in row] for row in maps[1]] == [["-1", "1"], ["1", "-1"]]


def test_sign_holds_on_hand_built_cones():
    rays, lines = generators(cone([(1, 0), (0, 1)], 2))       # the first quadrant
    assert sign_holds((1, 1), True, rays, lines) and sign_holds((-1, 0), False, rays, lines)
    assert not sign_holds((1, -1), True, rays, lines) and not sign_holds((1, -1), False, rays, lines)
    assert not sign_holds((0, 0), True, rays, lines) and sign_holds((0, 0), False, rays, lines)
    rays, lines = generators(cone([(1, 0)], 2))                # a half-plane: one ray, one line
    assert sign_holds((2, 0), True, rays, lines) and not sign_holds((2, 1), True, rays, lines)


def test_outcome_cones_by_hand():
    # Leaf = all of R^2 with logits (x0, x1): position 1 (2nd largest is the smaller input) always loses.
    identity = ((Fraction(1), Fraction(0)), (Fraction(0), Fraction(1)))
    cells = outcome_cones((), identity, 2, 1)
    assert [(c, ok, j) for c, ok, j, _ in cells] == [((0, (1,)), False, 1), ((1, (0,)), False, 0)]
    assert cells[0][3] == ((-1, 1),)
    # Logits (x1, x0): always right; an identical logit row loses ties to the earlier position.
    swapped = ((Fraction(0), Fraction(1)), (Fraction(1), Fraction(0)))
    assert [ok for _, ok, _, _ in outcome_cones((), swapped, 2, 1)] == [True, True]
    tied = ((Fraction(1), Fraction(1)), (Fraction(1), Fraction(1)))
    assert [(c[0], ok, j) for c, ok, j, _ in outcome_cones((), tied, 2, 1)] == [(0, True, None), (1, False, 0)]


# -- valid certificates -------------------------------------------------------------------

MODELS = [PERFECT, TIED, SILENT, random_model(1, 2, 2), random_model(2, 3, 3), random_model(3, 2, 3), random_model(4, 1, 2)]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.name}-d{m.d}n{m.n}")
def test_certificates_check_valid_and_agree_with_certify(model):
    cert = certify(model)
    doc = document(model)
    report = check_certificate(doc)
    assert report.valid, report.text()
    assert report.summary["pieces"] == len(cert.decomposition.pieces)
    assert report.summary["correct_cones"] + report.summary["error_cones"] == len(cert.outcomes)
    lo, hi = (Fraction(doc["totals"]["accuracy"][k]) for k in ("lo", "hi"))
    correct = cert.correct_mass  # the certificate measures each cone from its rows: the same value, both enclosures
    assert max(lo, correct.lo) <= min(hi, correct.hi) and hi - lo < Fraction(1, 10**30)


def test_an_errors_only_certificate_checks_and_states_the_complement():
    """n = 4: the correct cones that need integrals are stored as not-integrated [0, 1/2]; the
    checker recomputes that bound, and the accuracy it derives is 1 minus the error mass."""
    model = Model.from_arrays([[1]], [[-1]], [[1], [2], [-1], [3]], name="n4")
    cert = certify(model, integrate="errors")
    doc = certificate_document(cert)
    report = check_certificate(doc)
    assert report.valid, report.text()
    totals = doc["totals"]
    lo, hi = Fraction(totals["accuracy"]["lo"]), Fraction(totals["accuracy"]["hi"])
    assert (lo, hi) == (cert.accuracy.lo, cert.accuracy.hi) and hi - lo < 1e-12
    assert Fraction(totals["correct_mass"]["hi"]) > 1  # the bounds alone say little; the complement decides
    methods = [o["measure"]["method"] for p in doc["pieces"] for o in p["outcomes"]]
    assert "not-integrated" in methods and "plackett/2" in methods
    # a not-integrated claim on an error cone is recomputed as [0, 1/2]: its stored value must say so
    tampered = copy.deepcopy(doc)
    cone = next(o for p in tampered["pieces"] for o in p["outcomes"]
                if not o["correct"] and o["measure"]["method"] == "plackett/2")
    cone["measure"]["method"] = "not-integrated"
    assert not check_certificate(tampered).valid


@pytest.mark.parametrize("model, accuracy", [(PERFECT, 1), (TIED, Fraction(1, 4)), (SILENT, Fraction(1, 2))],
                         ids=["perfect", "tied", "silent"])
def test_accuracy_follows_the_tie_rule(model, accuracy):
    totals = document(model)["totals"]
    lo, hi = Fraction(totals["accuracy"]["lo"]), Fraction(totals["accuracy"]["hi"])
    assert totals["certified"] and lo <= accuracy <= hi and hi - lo < Fraction(1, 10**30)
    samples = np.random.default_rng(7).standard_normal((2000, model.n))
    right = np.mean([model.correct_exact(x) for x in samples])
    assert abs(float(accuracy) - right) <= 5 * np.sqrt(float(accuracy * (1 - accuracy)) / 2000)


def test_file_round_trip_and_determinism(tmp_path):
    model = random_model(3, 2, 3)
    a = write_certificate(certify(model), tmp_path / "a.json")
    b = write_certificate(certify(model), tmp_path / "b.json")
    doc_a, doc_b = json.loads(a.read_text()), json.loads(b.read_text())
    doc_a.pop("meta"), doc_b.pop("meta")
    assert doc_a == doc_b
    without_meta = [line for line in a.read_text().splitlines() if not line.startswith(' "meta"')]
    assert without_meta == [line for line in b.read_text().splitlines() if not line.startswith(' "meta"')]
    assert dumps_certificate(document(model)).count("\n") >= len(document(model)["pieces"]) + 10  # one piece a line
    assert check_certificate(a).valid and check_certificate(str(b)).valid


def test_real_m22_certificate_is_valid(m22_path, tmp_path):
    model = load_model(str(m22_path))
    path = write_certificate(certify(model), tmp_path / "m22.json")
    report = check_certificate(path)
    assert report.valid, report.text()
    assert report.summary["pieces"] >= 6 and not report.summary["accuracy"]["lo"] == "0"
    error = Fraction(report.summary["error_rate"]["lo"])
    assert 1 / 20000 < error < 1 / 8000  # the post: roughly 1 in 13,000


# -- tampering ------------------------------------------------------------------------------

def _leaves(doc, path=()):
    """Every scalar of the document outside ``meta``, with its path."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if path or key != "meta":
                yield from _leaves(value, path + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _leaves(value, path + (i,))
    else:
        yield path, doc


def _edited(path, value):
    """A different value of the same kind: the smallest edit that changes what it says."""
    if isinstance(value, bool):
        return not value
    if value is None:
        return 0
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 1e-9
    if "pattern" in path:
        return ("1" if value[0] == "0" else "0") + value[1:]
    if "sha256" in str(path[-1]):
        return value[:-1] + ("0" if value[-1] != "0" else "1")
    if value.lstrip("-").startswith("0x"):
        return float(np.nextafter(float.fromhex(value), np.inf)).hex()
    if "decimal" in path:
        return value[:-1] + str((int(value[-1]) + 1) % 10)
    if "/" in value or value.lstrip("-").isdigit():
        q = Fraction(value)
        return rational_str(Fraction(q.numerator + 1, q.denominator))
    return value + "?"


_KIND_OF_FIELD = {"pattern": "pattern", "constraints": "constraints", "logit_map": "logit map",
                  "outcomes": "outcomes", "step": "pattern", "neuron": "pattern"}


def expected_kind(path) -> str:
    """The failure an edit at ``path`` must be reported as."""
    top = path[0]
    if "measure" in path:
        return "measure"
    if top in ("pieces", "unresolved") and len(path) > 2:
        return _KIND_OF_FIELD[path[2]]
    return {"format": "structure", "version": "structure", "model": "weights", "semantics": "semantics",
            "tree": "tree", "totals": "totals"}.get(top, "structure")


def _set(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _edits(doc):
    """(label, expected kind, edit): every scalar edit, then deletions and swapped children."""
    for path, value in _leaves(doc):
        yield f"edit {path}: {value!r}", expected_kind(path), lambda d, p=path, v=value: _set(d, p, _edited(p, v))
    for k, piece in enumerate(doc["pieces"]):
        for j in range(len(piece["outcomes"])):
            yield f"delete outcome {k}.{j}", "outcomes", lambda d, k=k, j=j: d["pieces"][k]["outcomes"].pop(j)
        yield f"delete a constraint of piece {k}", "constraints", lambda d, k=k: d["pieces"][k]["constraints"].pop(0)
        yield f"delete piece {k}", "tree", lambda d, k=k: d["pieces"].pop(k)
    for k, node in enumerate(doc["tree"]):
        if "split" in node:
            def swap(d, k=k):
                d["tree"][k]["positive"], d["tree"][k]["negative"] = d["tree"][k]["negative"], d["tree"][k]["positive"]
            yield f"swap the children of node {k}", "tree", swap


def _mutations(doc, every: int = 1):
    """Every ``every``-th edit of the document: (label, expected kind, edited copy)."""
    for k, (label, kind, edit) in enumerate(_edits(doc)):
        if k % every == 0:
            edited = copy.deepcopy(doc)
            edit(edited)
            yield label, kind, edited


def _assert_rejected(label, kind, edited):
    report = check_certificate(edited)
    assert isinstance(report, CheckReport) and not report.valid, f"{label}: accepted"
    assert kind in report.kinds, f"{label}: expected a {kind} failure, got {report.text()}"


MUTATED = [(PERFECT, 1), (TIED, 1), (random_model(1, 2, 2), 1), (random_model(5, 1, 3), 20)]


@pytest.mark.parametrize("model, every", [pytest.param(*case, marks=[pytest.mark.slow] if k > 1 else [])
                                          for k, case in enumerate(MUTATED)],
                         ids=["perfect", "tied", "random-d2n2", "random-d1n3"])
def test_every_single_edit_is_rejected_by_name(model, every):
    mutations = list(_mutations(document(model), every))
    assert len(mutations) >= 40
    for label, kind, edited in mutations:
        _assert_rejected(label, kind, edited)


def test_mutations_cover_the_documents():
    counts = [len(range(0, len(list(_edits(document(m)))), every)) for m, every in MUTATED]
    assert sum(counts) >= 500
    labels = " ".join(label for m, every in MUTATED[:1] for label, _, _ in _edits(document(m)))
    for field in ("W_hh", "sha256", "split", "pattern", "logit_map", "constraints", "cell", "'lo'", "'hi'",
                  "decimal", "totals", "delete outcome", "delete piece", "swap"):
        assert field in labels


def test_incomplete_certificates_check_and_reject_edits():
    cert = certify(random_model(2, 3, 3), max_pieces=3)
    doc = certificate_document(cert)
    assert doc["unresolved"] and not doc["totals"]["complete"]
    report = check_certificate(doc)
    assert report.valid, report.text()
    assert Fraction(report.summary["accuracy"]["hi"]) - Fraction(report.summary["accuracy"]["lo"]) > Fraction(1, 10)
    edits = [m for m in _mutations(doc) if m[0].startswith("edit ('unresolved'")]
    assert len(edits) > 20
    for label, kind, edited in edits[::2]:
        _assert_rejected(label, kind, edited)


def test_edits_inside_meta_are_accepted():
    doc = copy.deepcopy(document(PERFECT))
    doc["meta"]["created_utc"] = "1970-01-01"
    doc["meta"]["certify_seconds"] = 1e9
    doc["meta"]["anything"] = {"nested": [1, 2, 3]}
    assert check_certificate(doc).valid


def test_a_null_child_must_really_be_empty():
    doc = copy.deepcopy(document(PERFECT))
    doc["tree"][1]["negative"] = None   # drop the leaf of piece 1 and claim that side is empty
    doc["tree"][3] = {"leaf": 1}        # (keep the node list a tree)
    report = check_certificate(doc)
    assert not report.valid and "tree" in report.kinds


def test_malformed_input_is_invalid_not_a_traceback(tmp_path):
    cases = ["{not json", "[]", '{"format": "verifier-certificate"}', json.dumps({**document(PERFECT), "tree": [[]]}),
             json.dumps({**document(PERFECT), "pieces": [None]}), json.dumps({**document(PERFECT), "model": 3}),
             json.dumps({**document(PERFECT), "tree": [{"leaf": -1}]}), '{"a": 1, "a": 2}', "NaN"]
    for k, text in enumerate(cases):
        path = tmp_path / f"bad{k}.json"
        path.write_text(text)
        report = check_certificate(path)
        assert not report.valid and report.failures, text
        assert "INVALID" in report.text()
    with pytest.raises(Exception, match="cannot read"):
        check_certificate(tmp_path / "missing.json")


def test_junk_anywhere_is_invalid_and_never_raises():
    doc = certificate_document(certify(random_model(2, 3, 3), max_pieces=2))   # with unresolved cones
    paths = [path for path, _ in _leaves(doc)] + [("tree", 0), ("pieces", 0), ("unresolved", 0), ("model",),
                                                  ("pieces", 0, "outcomes"), ("totals", "accuracy")]
    junk = [[], {}, "x", -7, 10**30, None, [[1]], {"leaf": 0}, {"unresolved": 0}, {"split": [1, 0, 0]}, "1/0",
            "0x1p99999", 1.5, [[]], "", ["111"]]
    rng = random.Random(5)
    for _ in range(150):
        path, value = rng.choice(paths), rng.choice(junk)
        edited = copy.deepcopy(doc)
        before = edited
        for key in path[:-1]:
            before = before[key]
        if before[path[-1]] == value:
            continue
        _set(edited, path, copy.deepcopy(value))
        report = check_certificate(edited)
        assert not report.valid and all(str(f) for f in report.failures), (path, value)
        assert not any("malformed certificate" in f.message for f in report.failures), (path, value, report.text())


def test_leaf_constraints_must_be_canonical():
    doc = copy.deepcopy(document(PERFECT))
    doc["pieces"][0]["constraints"] = [[2 * v for v in row] for row in doc["pieces"][0]["constraints"]]
    report = check_certificate(doc)
    assert "constraints" in report.kinds and "canonical" in report.text()



def test_cli_certify_writes_and_check_verifies(tmp_path, capsys):
    def run(*args):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err
    model = save_json(PERFECT, tmp_path / "perfect.json")
    cert = tmp_path / "perfect.cert.json"
    code, out, err = run("certify", str(model), "--certificate", str(cert))
    assert code == 0 and cert.is_file() and f"verifier check {cert}" in out, err
    code, out, _ = run("check", str(cert))
    assert code == 0 and out.startswith("VALID") and "accuracy in [1, 1]" in out  # order-and-sign cones: exact
    tampered = tmp_path / "tampered.json"
    tampered.write_text(cert.read_text().replace('"split":[1,0]', '"split":[1,1]'))
    code, out, _ = run("--json", "check", str(tampered))
    assert code == 1 and not json.loads(out)["valid"]
    assert "tree" in {f["kind"] for f in json.loads(out)["failures"]}
    code, out, err = run("check", str(tmp_path / "missing.json"))
    assert code == 2 and out == "" and err.startswith("verifier: error:") and len(err.splitlines()) == 1


ROUTE_MODELS = {
    # a d = 2, n = 4 RNN: some of its 4-dimensional cones are measured through their polar cones
    "polar": (lambda rng: Model.from_arrays(rng.integers(-3, 4, size=(2, 1)).tolist(), rng.integers(-3, 4, size=(2, 2)).tolist(),
                                            rng.integers(-3, 4, size=(4, 2)).tolist()), "plackett-polar/2", 1e-13, 4),
    # a d = 1, n = 5 RNN: its 5-dimensional cones are measured from their faces' tangent cones
    "faces": (lambda rng: Model.from_arrays(rng.integers(1, 4, size=(1, 1)).tolist(), rng.integers(-3, 4, size=(1, 1)).tolist(),
                                            rng.integers(-3, 4, size=(5, 1)).tolist()), "plackett-faces/2", 1e-12, 3),
}


@pytest.mark.parametrize("route", sorted(ROUTE_MODELS))
def test_a_cone_measured_by_one_route_cannot_claim_the_triangulation(tmp_path, route):
    """The model's error rate matches sampling within 4 stderr and the checker (recomputing by the
    route each cone names) accepts its certificate; a cone measured by the route but claimed as
    triangulated is recomputed by triangulation, and the certificate is rejected."""
    make, method, width, seed = ROUTE_MODELS[route]
    model = make(np.random.default_rng(0))
    path = tmp_path / "c.json"
    cert = certify(model, certificate=path, integrate="errors", workers=1)
    assert cert.certified and cert.complete and cert.accuracy.width < width
    assert method in {m.method for m in cert.measures}
    est = estimate_accuracy(model, 400_000, seed=seed)
    p = float(cert.error_rate.lo + cert.error_rate.hi) / 2
    assert abs(est.error_rate - p) <= 4 * math.sqrt(p * (1 - p) / est.n)
    assert check_certificate(path).valid
    doc = json.loads(path.read_text())
    cone = next(o for p in doc["pieces"] for o in p["outcomes"] if o["measure"]["method"] == method)
    cone["measure"]["method"] = "plackett/2"
    report = check_certificate(doc)
    assert not report.valid and "not the measure recomputed" in report.text()


def test_certificates_with_estimates_of_either_factor_check(tmp_path, monkeypatch):
    """Estimated cones (here every 4-dimensional one, with ``plackett=False``) are recomputed by the
    factorization their method names: ``qmc-estimate`` (exact LDL^T, older certificates) and
    ``qmc-estimate/2`` (ball LDL^T) both check, and a certificate whose estimate was made by the
    other factor does not."""
    from verifier.measure import solid_angle

    model = random_model(5, 2, 4)
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    with monkeypatch.context() as patch:
        patch.setitem(solid_angle.polyhedron_measure.__kwdefaults__, "factor", "exact-ldl")
        old = certify(model, certificate=old_path, plackett=False, workers=1)
    new = certify(model, certificate=new_path, plackett=False, workers=1)
    assert "qmc-estimate" in {m.method for m in old.measures} and "qmc-estimate/2" in {m.method for m in new.measures}
    assert check_certificate(old_path).valid and check_certificate(new_path).valid
    assert abs(old.accuracy.estimate - new.accuracy.estimate) <= 4 * math.hypot(old.accuracy.stderr, new.accuracy.stderr)
    doc = json.loads(old_path.read_text())
    relabelled = json.loads(json.dumps(doc).replace('"qmc-estimate"', '"qmc-estimate/2"'))
    (tmp_path / "relabelled.json").write_text(json.dumps(relabelled))
    assert not check_certificate(tmp_path / "relabelled.json").valid
