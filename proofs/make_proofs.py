"""Regenerate the committed proof reports: ``python proofs/make_proofs.py [NAME ...]``.

Each folder ``proofs/NAME/`` holds ``report.md``, a standalone ``report.html`` and the figures,
written by :func:`verifier.present.report.render_report` with fixed seeds, so the output is
deterministic; ``tests/test_report.py`` regenerates them and fails when they are stale. A model
that is not available here (AlgZoo's weights outside the repo, or a shipped model not added
yet) is skipped with the reason. The real M2,2 is read from ``$ALGZOO_DIR`` (default
``../shared/algzoo`` next to the repository); its weights are never copied into the repo.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from verifier.errors import LoadError
from verifier.models.loading import load_model
from verifier.present.report import ReportFiles, render_report

REPO = Path(__file__).resolve().parent.parent
PROOFS_DIR = REPO / "proofs"
SEED = 0
# folder -> (model spec, Monte Carlo samples); samples stay modest so the staleness test is quick
PROOFS = {
    "handcrafted-2": ("handcrafted:2", 10**6),
    "handcrafted-3": ("handcrafted:3", 2 * 10**5),
    "m2-2": ("zoo:2nd_argmax:2:2", 10**6),
    "trained-4-3": ("trained:4:3", 2 * 10**5),
}


def default_algzoo_dir() -> None:
    """Point ``$ALGZOO_DIR`` at ``../shared/algzoo`` beside the repository unless it is set."""
    os.environ.setdefault("ALGZOO_DIR", str(REPO.parent / "shared" / "algzoo"))


def unavailable(name: str) -> str | None:
    """Why the model of proof ``name`` cannot be loaded here, or None when it can."""
    try:
        load_model(PROOFS[name][0])
    except LoadError as e:
        return str(e)
    return None


def make(name: str, root: Path = PROOFS_DIR) -> ReportFiles:
    """Write proof ``name`` into ``root/name`` and delete figures there that it no longer draws."""
    spec, samples = PROOFS[name]
    files = render_report(spec, root / name, samples=samples, seed=SEED)
    for png in (root / name).glob("*.png"):
        if png not in files.figures:
            png.unlink()
    return files


def main(argv: list[str]) -> int:
    default_algzoo_dir()
    names = argv or list(PROOFS)
    unknown = [n for n in names if n not in PROOFS]
    if unknown:
        print(f"unknown proof(s) {', '.join(unknown)}; known: {', '.join(PROOFS)}", file=sys.stderr)
        return 2
    for name in names:
        reason = unavailable(name)
        if reason:
            print(f"skip {name}: {reason}")
            continue
        files = make(name)
        print(f"wrote {files.markdown.parent.relative_to(REPO)}/: "
              + ", ".join(p.name for p in (files.markdown, files.html, *files.figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
