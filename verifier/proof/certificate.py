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

The file is written as it is read: top-level keys in order, one tree node, piece or
unresolved cone per line. A streaming run (:func:`write_run`) appends each piece's line as it
is measured and assembles the file from those parts at the end, so a big certificate never
sits in memory (the tree's nodes do: one small record per split).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from array import array
from pathlib import Path
from typing import Iterable, Iterator

from .. import __version__
from ..coerce import as_certification
from .checker import (FORMAT, MEDIAN_SEMANTICS, SEMANTICS, VERSION, Sums, cell_json, measure_json, median_cell_json,
                      median_totals_json, order_cells, pattern_text, totals_json)
from ..errors import VerifierError
from ..geometry.decomposition import Leaf, Unresolved
from ..measure import cone_measure
from ..measure.moments import expectation_total
from ..models.tasks import median_cells
from ..models.weightfile import model_to_json

LIST_KEYS = ("tree", "pieces", "unresolved")


def _compact(v) -> str:
    return json.dumps(v, separators=(",", ":"), allow_nan=False)


def negative_children(kinds: Iterable[str]) -> array:
    """For a full binary tree given by its node kinds in preorder (``"S"`` split, else a leaf):
    each split's negative child's index (its positive child is the next node); 0 for leaves.

    >>> list(negative_children("SSLLL"))
    [4, 3, 0, 0, 0]
    """
    kinds = list(kinds)
    out = array("q", bytes(8 * len(kinds)))
    sizes = []
    for i in range(len(kinds) - 1, -1, -1):
        if kinds[i] == "S":
            positive = sizes.pop()
            negative = sizes.pop()
            out[i] = i + 1 + positive
            sizes.append(1 + positive + negative)
        else:
            sizes.append(1)
    return out


def _tree_lines(nodes: list) -> Iterator[str]:
    """Certificate lines of the tree from preorder records ``("S", form, step, neuron)``, ``("L",)``, ``("U",)``."""
    negative = negative_children(node[0] for node in nodes)
    counts = {"L": 0, "U": 0}
    for i, node in enumerate(nodes):
        if node[0] == "S":
            yield _compact({"split": list(node[1]), "step": node[2], "neuron": node[3], "positive": i + 1,
                            "negative": negative[i]})
        else:
            key = "leaf" if node[0] == "L" else "unresolved"
            yield _compact({key: counts[node[0]]})
            counts[node[0]] += 1


def _unresolved_line(u: Unresolved, m) -> str:
    return _compact({"step": u.step, "neuron": u.neuron, "pattern": [s for s in pattern_text(u.pattern) if s],
                     "constraints": [list(r) for r in u.constraints], "measure": measure_json(m)})


def _semantics(model) -> dict:
    n = model.n
    if model.task.outputs_value:
        return {**MEDIAN_SEMANTICS, "task": model.task.name, "cells": [median_cell_json(c) for c in median_cells(n)]}
    above = model.task.above(n)
    return {**SEMANTICS, "task": model.task.name, "target_above": above,
            "cells": [cell_json(s, a) for s, a in order_cells(above, n)]}


def _totals(model, tally, unresolved_measures: list) -> dict:
    """The totals implied by a run's tally (accuracy, or a median model's MSE)."""
    if model.task.outputs_value:
        return median_totals_json(expectation_total(tally.squared_error), Sums.of_total(tally.masses), len(unresolved_measures),
                                  tally.pieces, model)
    return totals_json(Sums.of_total(tally.correct), Sums.of_total(tally.errors), Sums.of(unresolved_measures), tally.pieces)


def _write(path: Path, model, nodes: list, piece_lines: Iterable[str], unresolved: list[Unresolved], tally,
           meta: dict) -> Path:
    """Write the certificate, streaming the pieces' lines (see the module docstring)."""
    n = model.n
    weights = {k: v for k, v in model_to_json(model).items() if k not in ("name", "meta")}
    measures = [cone_measure(u.constraints, n) for u in unresolved]
    semantics = _semantics(model)
    totals = _totals(model, tally, measures)
    meta = {"model_name": model.name, "generator": f"verifier {__version__}",
            "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **meta, "python": platform.python_version()}

    def section(f, key, value, last=False):
        f.write(f" {json.dumps(key)}: {value}" + ("\n" if last else ",\n"))

    def dict_value(d) -> str:
        return "{\n  " + ",\n  ".join(f"{json.dumps(k)}: {_compact(x)}" for k, x in d.items()) + "\n }"

    def list_value(f, key, lines):
        first = True
        for line in lines:
            f.write((f" {json.dumps(key)}: [\n  " if first else ",\n  ") + line)
            first = False
        f.write(f" {json.dumps(key)}: []" if first else "\n ]")
        f.write(",\n")

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "w") as f:
            f.write("{\n")
            section(f, "format", _compact(FORMAT))
            section(f, "version", _compact(VERSION))
            section(f, "semantics", dict_value(semantics))
            section(f, "model", dict_value(weights))
            list_value(f, "tree", _tree_lines(nodes))
            list_value(f, "pieces", piece_lines)
            list_value(f, "unresolved", (_unresolved_line(u, m) for u, m in zip(unresolved, measures)))
            section(f, "totals", dict_value(totals))
            section(f, "meta", _compact(meta), last=True)
            f.write("}\n")
        os.replace(tmp, path)
    except OSError as e:
        raise VerifierError(f"{path}: cannot write the certificate ({e.strerror or e})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_run(run, model, path, seconds: float, stop_reason) -> Path:
    """Write the certificate of a streaming run (:func:`verifier.pipeline.run` with ``certificate``)."""
    from ..pipeline import preorder
    nodes, unresolved, order = [], [], []
    for node, part, cone in preorder(run):
        nodes.append(node)
        if cone is not None:
            unresolved.append(cone)
        elif node[0] == "L":
            order.append(part)

    def piece_lines():
        files = {}
        try:
            for part in order:
                if part.piece_lines is not None:
                    source = files.setdefault(part.number, iter(part.piece_lines))
                else:
                    if part.number not in files:
                        files[part.number] = open(Path(run.spill) / f"{part.number}.pieces")
                    source = files[part.number]
                yield next(source).rstrip("\n")
        finally:
            for f in files.values():
                if hasattr(f, "close"):
                    f.close()
    meta = {"certify_seconds": round(seconds, 3), "workers": run.workers, "stop_reason": stop_reason}
    return _write(Path(path), model, nodes, piece_lines(), unresolved, run.tally, meta)


def _nodes(tree) -> list:
    """Preorder records of an in-memory split tree."""
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Leaf):
            out.append(("L",))
        elif isinstance(node, Unresolved):
            out.append(("U",))
        else:
            if node.positive is None or node.negative is None:
                raise VerifierError("internal error: a split with an empty side")
            out.append(("S", node.form, node.step, node.neuron))
            stack.extend((node.negative, node.positive))
    return out


def write_certificate(cert, path: str | Path) -> Path:
    """Write the certificate of ``cert`` to ``path`` (JSON): a certification made with ``keep=True``
    (accuracy or a median model's MSE), or a model to certify."""
    from ..certify_median import MSE
    from ..pipeline import ACCURACY, piece_line
    cert = as_certification(cert)
    if cert.decomposition is None:
        raise VerifierError("no certificate: this certification kept no pieces (certify(..., keep=True), "
                            "or pass certificate=PATH to certify)")
    dec = cert.decomposition
    median = cert.model.task.outputs_value
    cones, values = (cert.cones, tuple(zip(cert.contributions, cert.masses))) if median else \
        (cert.outcomes, cert.measures)
    scored = [[] for _ in dec.pieces]
    for c, v in zip(cones, values):
        scored[c.piece].append((c, v))
    scoring = MSE if median else ACCURACY     # (the per-cone entry only: the same for their estimated forms)
    lines = (piece_line(p, s, scoring) for p, s in zip(dec.pieces, scored))
    meta = {"certify_seconds": round(cert.seconds, 3), "workers": cert.workers, "stop_reason": cert.stop_reason}
    return _write(Path(path), cert.model, _nodes(dec.tree), lines, list(dec.unresolved), cert.tally, meta)


def certificate_document(cert) -> dict:
    """The certificate of a ``keep=True`` certification as a JSON-ready dict."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(write_certificate(cert, Path(tmp) / "c.json").read_text())


def dumps_certificate(doc: dict) -> str:
    """Compact, deterministic JSON text of a certificate document: one top-level key per line, one
    node or piece per line (the layout the writer streams)."""
    def value(key, v) -> str:
        if key in LIST_KEYS and v:
            return "[\n  " + ",\n  ".join(_compact(x) for x in v) + "\n ]"
        if isinstance(v, dict) and key != "meta":
            return "{\n  " + ",\n  ".join(f"{json.dumps(k)}: {_compact(x)}" for k, x in v.items()) + "\n }"
        return _compact(v)
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {value(k, v)}" for k, v in doc.items()) + "\n}\n"
