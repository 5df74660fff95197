"""Proof certificates: a certification written as a self-contained JSON document.

The document holds everything a skeptic needs to re-check the claimed accuracy with
:mod:`verifier.proof.checker` (which defines the format): the exact weights and their sha256, the
semantics, the split tree (a flat list of nodes, the root first; children are node indices),
each leaf's activation pattern, constraints and exact logit map, its correct and error cones
with their measure intervals, and the totals. Rationals are ``"p/q"`` strings; each interval
also carries outward-rounded decimals for people. Timings, versions and dates go in ``meta``,
which the checker ignores; everything else is part of the proof, and the same model always
gives the same bytes outside ``meta``.

``certify`` measures each cone from its canonical (minimized, sorted) rows with
``cone_measure``, the same call the checker makes, so the two agree to the last bit.
"""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

import flint
import ppl

from .. import __version__
from ..certify import Certification
from ..coerce import as_certification
from .checker import (FORMAT, SEMANTICS, VERSION, cell_json, measure_json, order_cells, pattern_text,
                      totals_json)
from ..geometry.decomposition import Leaf, Unresolved
from ..errors import VerifierError
from ..exact import rational_str
from ..measure import cone_measure
from ..models.weightfile import model_to_json

LIST_KEYS = ("tree", "pieces", "unresolved")


def _rows(rows) -> list[list[int]]:
    return [list(r) for r in rows]


def _tree_nodes(dec) -> list[dict]:
    """The split tree in preorder (positive side first); Split children become node indices."""
    unresolved = {id(u): k for k, u in enumerate(dec.unresolved)}
    nodes: list[dict] = []

    def visit(node) -> int:
        index = len(nodes)
        if isinstance(node, Leaf):
            nodes.append({"leaf": node.piece})
        elif isinstance(node, Unresolved):
            nodes.append({"unresolved": unresolved[id(node)]})
        else:
            entry = {"split": list(node.form), "step": node.step, "neuron": node.neuron}
            nodes.append(entry)
            entry["positive"] = None if node.positive is None else visit(node.positive)
            entry["negative"] = None if node.negative is None else visit(node.negative)
        return index

    visit(dec.tree)
    return nodes


def certificate_document(cert: Certification) -> dict:
    """The certificate of a certification, as a JSON-ready dict (see the module docstring)."""
    if cert.unsplit:
        raise VerifierError(f"no certificate: {cert.stop_reason}; every piece needs its outcome cones"
                            " (raise --max-seconds, or set a piece budget with --max-pieces instead)")
    model, dec = cert.model, cert.decomposition
    n = model.n
    weights = {k: v for k, v in model_to_json(model).items() if k not in ("name", "meta")}
    above = model.task.above(n)
    correct, errors = [], []
    by_piece: dict[int, list[dict]] = {}
    for o, m in zip(cert.outcomes, cert.measures):
        (correct if o.correct else errors).append(m)
        by_piece.setdefault(o.piece, []).append({
            "cell": cell_json(o.cell.target, o.cell.above), "correct": o.correct, "loses_to": o.loses_to,
            "constraints": _rows(o.constraints), "measure": measure_json(m)})
    pieces = [{"pattern": pattern_text(p.pattern), "constraints": _rows(p.constraints),
               "logit_map": [[rational_str(v) for v in row] for row in p.logit_map],
               "outcomes": by_piece.get(k, [])} for k, p in enumerate(dec.pieces)]
    unresolved_measures = [cone_measure(u.constraints, n) for u in dec.unresolved]
    unresolved = [{"step": u.step, "neuron": u.neuron, "pattern": [s for s in pattern_text(u.pattern) if s],
                   "constraints": _rows(u.constraints), "measure": measure_json(m)}
                  for u, m in zip(dec.unresolved, unresolved_measures)]
    return {
        "format": FORMAT,
        "version": VERSION,
        "semantics": {**SEMANTICS, "task": model.task.name, "target_above": above,
                      "cells": [cell_json(s, a) for s, a in order_cells(above, n)]},
        "model": weights,
        "tree": _tree_nodes(dec),
        "pieces": pieces,
        "unresolved": unresolved,
        "totals": totals_json(correct, errors, unresolved_measures, len(pieces)),
        "meta": {
            "model_name": model.name, "generator": f"verifier {__version__}",
            "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "certify_seconds": round(cert.seconds, 3), "decomposition_seconds": round(dec.seconds, 3),
            "stop_reason": dec.stop_reason, "python": platform.python_version(),
            "pplpy": getattr(ppl, "__version__", "?"), "python_flint": flint.__version__,
        },
    }


def dumps_certificate(doc: dict) -> str:
    """Compact, deterministic JSON text: one top-level key per line, one node or piece per line."""
    def compact(v) -> str:
        return json.dumps(v, separators=(",", ":"), allow_nan=False)

    def value(key, v) -> str:
        if key in LIST_KEYS and v:
            return "[\n  " + ",\n  ".join(compact(x) for x in v) + "\n ]"
        if isinstance(v, dict) and key != "meta":
            return "{\n  " + ",\n  ".join(f"{json.dumps(k)}: {compact(x)}" for k, x in v.items()) + "\n }"
        return compact(v)
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {value(k, v)}" for k, v in doc.items()) + "\n}\n"


def write_certificate(cert, path: str | Path) -> Path:
    """Write the certificate of ``cert`` (a certification, or a model to certify) to ``path`` (JSON); returns the path."""
    cert = as_certification(cert)
    path = Path(path)
    text = dumps_certificate(certificate_document(cert))
    try:
        path.write_text(text)
    except OSError as e:
        raise VerifierError(f"{path}: cannot write the certificate ({e.strerror or e})") from None
    return path
