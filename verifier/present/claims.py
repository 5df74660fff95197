"""Machine-checked claims: every number and structural statement of ARC's AlgZoo post as a test.

A claims file (TOML, ``proofs/claims.toml``) has an optional ``[models]`` table of aliases
(name -> model spec; ``$ALGZOO_DIR`` at the start of a spec expands to the AlgZoo folder) and
``[[claim]]`` entries with ``id``, ``model``, ``quantity`` (a name in :data:`QUANTITIES`),
``expected`` (a number, a ``"p/q"`` string, a boolean or a text; ``label`` shows it to people),
optional ``tolerance``
(absolute) or ``relative_tolerance``, ``options`` (passed to the quantity, e.g. a sample
size), ``words`` (the post's words) and ``source``.

Verdicts:

* a certified interval passes when it lies inside ``[expected - tol, expected + tol]``;
* an estimate (sampling: its 95% Wilson interval) passes when its interval meets that band;
* an exact number passes when it is within the tolerance; texts and booleans must be equal;
* a model whose weights cannot be loaded (:class:`LoadError`) makes the claim ``skipped``;
* ``model = "-"``: a claim about the zoo itself (its families, sizes, checkpoints, task
  definitions), measured without a model.
"""

from __future__ import annotations

import inspect
import math
import os
import time
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..certify import Certification, certify
from ..errors import LoadError, VerifierError
from ..exact import exact_rational, rational_str
from ..models.handcrafted import KNOWN_LENGTHS
from ..models.loading import ZOO_CHECKPOINTS, ZOO_SEEDS, ZOO_SIZES, algzoo_dir, load_model
from ..models.tasks import TASKS
from ..measure import Measure
from ..models.model import Model
from ..models.weightfile import read_limited
from ..estimate.sampling import estimate_accuracy
from ..explain.standardize import pattern_text, standardize
from ..explain.surprise import delta_regions, post_ledger

MAX_CLAIMS_BYTES = 1 << 20  # the post's claims file is 10 KB

# proofs/claims.toml, reached through the package's data/claims.toml (a symlink in the source
# tree, a copy in an installed wheel), so `verifier claims` works in both.
DEFAULT_CLAIMS = Path(__file__).parent.parent / "data" / "claims.toml"
NO_MODEL = "-"  # a claim about the zoo itself, not about one model
CLAIM_KEYS = {"id", "model", "quantity", "expected", "label", "tolerance", "relative_tolerance", "options", "words", "source"}


# -- quantities: name -> function(model, **options) -> measured value ----------------------------


@lru_cache(maxsize=8)
def _certification(model: Model) -> Certification:
    return certify(model)


def _regions(model: Model):
    return delta_regions(_certification(model))


def _sampled_accuracy(model: Model, samples: int = 200_000, seed: int = 0) -> Measure:
    est = estimate_accuracy(model, samples, seed=seed)
    lo, hi = est.ci95
    return Measure(Fraction(lo), Fraction(hi), False, f"monte-carlo n={est.n:,} seed={seed}", est.accuracy, est.stderr)


def _post_bits(model: Model, group: str | None = None) -> float:
    ledger = post_ledger(_certification(model))
    if group is None:
        return ledger.total_bits
    groups = ledger.groups()
    if group not in groups:
        raise VerifierError(f"no group {group!r} in the post ledger; groups: {', '.join(groups)}")
    return groups[group]


def _w_hi_values(model: Model) -> str:
    return "(" + " ; ".join(rational_str(row[0]) for row in standardize(model).model.w_hi) + ")"


def _interval(e) -> Measure:
    """An expectation (MSE, RMSE) as a Measure-shaped interval, so verdicts treat it like the others."""
    return Measure(e.lo, e.hi, e.certified, "gaussian-moments", e.estimate, e.stderr)


def _zoo_sizes(_model, task: str) -> str:
    hidden, lengths = ZOO_SIZES[task]
    return f"hidden {','.join(map(str, hidden))}; seq_len {','.join(map(str, lengths))}"


def _ranked(inputs) -> list[int]:
    """Positions of ``inputs`` (exact numbers) from smallest to largest."""
    values = [exact_rational(v) for v in inputs]
    return sorted(range(len(values)), key=values.__getitem__)


def _task_target(_model, task: str, inputs: list) -> int:
    """The position the task asks for on ``inputs``, computed exactly."""
    order = _ranked(inputs)
    return order[len(order) - 1 - TASKS[task].above(len(order))]


def _median_value(_model, inputs: list) -> Fraction:
    """The median of ``inputs`` exactly (the mean of the middle two for an even count)."""
    values = sorted(exact_rational(v) for v in inputs)
    middle = values[(len(values) - 1) // 2: len(values) // 2 + 1]
    return sum(middle, Fraction(0)) / len(middle)


def _weights_text(model: Model) -> str:
    """The exact weights as text: ``W_hi (1 ; -1) W_hh (...) W_oh (...)``, rows separated by ``;``."""
    parts = []
    for label, matrix in (("W_hi", model.w_hi), ("W_hh", model.w_hh), ("W_oh", model.w_oh)):
        parts.append(f"{label} (" + " ; ".join(" ".join(rational_str(v) for v in row) for row in matrix) + ")")
    return " ".join(parts)


QUANTITIES: dict[str, Callable[..., object]] = {
    "parameters": lambda m: m.n_params,
    "hidden_neurons": lambda m: m.d,
    "weights": _weights_text,
    "certified_accuracy": lambda m: _certification(m).accuracy,
    "certified_error_rate": lambda m: _certification(m).error_rate,
    "certified_mse": lambda m: _interval(_certification(m).mse),
    "certified_rmse": lambda m: _interval(_certification(m).rmse),
    "sequence_length": lambda m: m.n,
    "task": lambda m: m.task.name,
    "zoo_families": lambda m: ", ".join(ZOO_SIZES),
    "zoo_sizes": _zoo_sizes,
    "zoo_checkpoints": lambda m: ", ".join(map(str, ZOO_CHECKPOINTS)),
    "zoo_seeds": lambda m: ", ".join(map(str, ZOO_SEEDS)),
    "handcrafted_lengths": lambda m: ", ".join(map(str, KNOWN_LENGTHS)),
    "task_target": _task_target,
    "median_value": _median_value,
    "sampled_accuracy": _sampled_accuracy,
    "standardized_w_hi": _w_hi_values,
    "standardized_w_hh_pattern": lambda m: pattern_text(standardize(m).sign_pattern(), "w_hh"),
    "standardized_w_oh_signs": lambda m: pattern_text(standardize(m).sign_pattern(), "w_oh"),
    "delta_pieces": lambda m: len(_regions(m)),
    "delta_coefficients_positive": lambda m: all(r.a0 > 0 and r.a1 > 0 for r in _regions(m)),
    "pieces_a0_below_a1": lambda m: sum(not r.near_equal and r.a0 < r.a1 for r in _regions(m)),
    "pieces_a0_above_a1": lambda m: sum(not r.near_equal and r.a0 > r.a1 for r in _regions(m)),
    "near_equal_pieces": lambda m: sum(r.near_equal for r in _regions(m)),
    "near_equal_agreement_bits": lambda m: tuple(-math.log2(r.relative_difference) for r in _regions(m)
                                                 if r.near_equal and r.relative_difference > 0),
    "post_surprise_bits": _post_bits,
    "post_given_explanation_bits": lambda m: post_ledger(_certification(m)).given_explanation_bits,
}


# -- claims and results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    id: str
    model: str                      # the spec, aliases resolved
    quantity: str
    expected: object                # Fraction, bool or str
    expected_label: str             # the expected value as the file writes it
    tolerance: Fraction             # absolute, or relative to |expected| when ``relative``
    relative: bool
    words: str = ""
    source: str = ""
    options: tuple[tuple[str, object], ...] = ()

    @property
    def band(self) -> tuple[Fraction, Fraction]:
        """``[expected - tol, expected + tol]`` for a numeric claim."""
        tol = self.tolerance * abs(self.expected) if self.relative else self.tolerance
        return self.expected - tol, self.expected + tol

    @property
    def expected_text(self) -> str:
        if not self.tolerance:
            return self.expected_label
        if self.relative:
            return f"{self.expected_label} +- {float(100 * self.tolerance):.3g}%"
        return f"{self.expected_label} +- {float(self.tolerance):.3g}"


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    verdict: str                    # "pass", "fail" or "skipped"
    measured: object = None
    reason: str | None = None
    seconds: float = 0.0

    @property
    def measured_text(self) -> str:
        m = self.measured
        if m is None:
            return "-"
        if isinstance(m, Measure):
            if m.certified:
                return f"{m.estimate:.6g} (certified, width {float(m.width):.1e})" if m.width else f"{float(m.lo):.6g} (exact)"
            return f"{m.estimate:.6g} (95% [{float(m.lo):.4g}, {float(m.hi):.4g}])"
        if isinstance(m, tuple):
            return "(" + ", ".join(f"{v:.4g}" for v in m) + ")"
        if isinstance(m, float):
            return f"{m:.4g}"
        return str(m).lower() if isinstance(m, bool) else str(m)

    def as_dict(self) -> dict:
        c, m = self.claim, self.measured
        out = {"id": c.id, "verdict": self.verdict, "model": c.model, "quantity": c.quantity,
               "expected": _json_value(c.expected), "measured": _json_value(m), "words": c.words, "source": c.source}
        if isinstance(c.expected, Fraction):
            out["tolerance"] = {"relative" if c.relative else "absolute": float(c.tolerance)}
        if isinstance(m, Measure):
            out["measured_interval"] = [m.lo_str(20), m.hi_str(20)]
            out["certified"] = m.certified
            out["method"] = m.method
        if self.reason:
            out["reason"] = self.reason
        out["seconds"] = self.seconds
        return out


def _json_value(v):
    if isinstance(v, Measure):
        return v.estimate
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    if isinstance(v, tuple):
        return list(v)
    return v


def verdict(claim: Claim, measured) -> bool:
    """Whether a measured value supports the claim (see the module docstring)."""
    if not isinstance(claim.expected, Fraction):
        return type(measured) is type(claim.expected) and measured == claim.expected
    lo, hi = claim.band
    if isinstance(measured, Measure):
        return lo <= measured.lo and measured.hi <= hi if measured.certified else measured.lo <= hi and lo <= measured.hi
    values = measured if isinstance(measured, tuple) else (measured,)
    if not values or not all(isinstance(v, (int, float, Fraction)) and not isinstance(v, bool) for v in values):
        return False
    return all(lo <= Fraction(v) <= hi for v in values)


# -- reading and checking ----------------------------------------------------------------------


def _expand(spec: str) -> str:
    """A spec with a leading ``$ALGZOO_DIR`` replaced by the AlgZoo folder (as :func:`algzoo_dir` finds it)."""
    if spec.startswith("$ALGZOO_DIR"):
        return str(algzoo_dir()[0]) + spec[len("$ALGZOO_DIR"):]
    return spec


def _number(value, what: str) -> Fraction:
    if isinstance(value, bool):
        raise VerifierError(f"{what} must be a number, got {value!r}")
    try:
        return exact_rational(value)
    except ValueError:
        raise VerifierError(f"{what} must be a number or a 'p/q' string, got {value!r}") from None


def _is_number(text: str) -> bool:
    try:
        exact_rational(text)
    except ValueError:
        return False
    return True


def _claim(entry, aliases: dict, where: str) -> Claim:
    if not isinstance(entry, dict):
        raise VerifierError(f"{where}: a [[claim]] must be a table")
    missing = [k for k in ("id", "model", "quantity", "expected") if k not in entry]
    if missing:
        raise VerifierError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - CLAIM_KEYS)
    if unknown:
        raise VerifierError(f"{where} ({entry['id']}): unknown keys {', '.join(unknown)}")
    if entry["quantity"] not in QUANTITIES:
        raise VerifierError(f"{where} ({entry['id']}): unknown quantity {entry['quantity']!r};"
                            f" known: {', '.join(QUANTITIES)}")
    if "tolerance" in entry and "relative_tolerance" in entry:
        raise VerifierError(f"{where} ({entry['id']}): give tolerance or relative_tolerance, not both")
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise VerifierError(f"{where} ({entry['id']}): options must be a table")
    try:
        inspect.signature(QUANTITIES[entry["quantity"]]).bind(None, **options)
    except TypeError as e:
        raise VerifierError(f"{where} ({entry['id']}): bad options for {entry['quantity']}: {e}") from None
    expected = entry["expected"]
    if isinstance(expected, (int, Decimal)) and not isinstance(expected, bool):
        expected = _number(expected, f"{where} expected")
    elif isinstance(expected, str) and _is_number(expected):
        expected = exact_rational(expected)
    elif not isinstance(expected, (bool, str)):
        raise VerifierError(f"{where} ({entry['id']}): expected must be a number, a boolean or a text")
    if not isinstance(expected, Fraction) and ("tolerance" in entry or "relative_tolerance" in entry):
        raise VerifierError(f"{where} ({entry['id']}): a tolerance needs a numeric expected value")
    relative = "relative_tolerance" in entry
    tolerance = _number(entry.get("relative_tolerance", entry.get("tolerance", 0)), f"{where} tolerance")
    if tolerance < 0:
        raise VerifierError(f"{where} ({entry['id']}): tolerance must be >= 0")
    model = str(entry["model"])
    label = str(entry["expected"]).lower() if isinstance(entry["expected"], bool) else str(entry["expected"])
    label = str(entry.get("label", label))
    return Claim(str(entry["id"]), _expand(aliases.get(model, model)), entry["quantity"], expected, label, tolerance,
                 relative, str(entry.get("words", "")), str(entry.get("source", "")), tuple(sorted(options.items())))


def load_claims(path: str | os.PathLike) -> tuple[Claim, ...]:
    """Parse a claims file; any problem is a one-line :class:`VerifierError`."""
    path = Path(path)
    raw = read_limited(path, limit=MAX_CLAIMS_BYTES, what="a claims file")
    try:
        doc = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)  # decimals exactly as written
    except RecursionError:
        raise VerifierError(f"{path}: not valid TOML: nested too deeply") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise VerifierError(f"{path}: not valid TOML: {str(e).splitlines()[0]}") from None
    aliases = doc.get("models", {})
    entries = doc.get("claim", [])
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise VerifierError(f"{path}: [models] must map names to model spec strings")
    if not isinstance(entries, list) or not entries:
        raise VerifierError(f"{path}: no [[claim]] entries")
    claims = tuple(_claim(e, aliases, f"{path.name} claim {i + 1}") for i, e in enumerate(entries))
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise VerifierError(f"{path}: duplicate claim ids: {', '.join(sorted({i for i in ids if ids.count(i) > 1}))}")
    return claims


def check_claims(claims: tuple[Claim, ...]) -> tuple[ClaimResult, ...]:
    """Measure every claim (loading each model once) and give its verdict."""
    models: dict[str, Model | LoadError] = {}
    results = []
    for claim in claims:
        if claim.model == NO_MODEL:
            models[claim.model] = None
        elif claim.model not in models:
            try:
                models[claim.model] = load_model(claim.model)
            except LoadError as e:
                models[claim.model] = e
        model = models[claim.model]
        if isinstance(model, LoadError):
            results.append(ClaimResult(claim, "skipped", reason=f"weights not available: {model}"))
            continue
        start = time.perf_counter()
        measured = QUANTITIES[claim.quantity](model, **dict(claim.options))
        results.append(ClaimResult(claim, "pass" if verdict(claim, measured) else "fail", measured,
                                   seconds=time.perf_counter() - start))
    return tuple(results)
