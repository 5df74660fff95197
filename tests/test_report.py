"""Proof reports: they render, their figures agree with the certified numbers, and the committed ones are current."""

from __future__ import annotations

import base64
import importlib.util
import math
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from verifier.certify import certify
from verifier.cli import main
from verifier.geometry.decomposition import delta_forms
from verifier.present.figures import _best_cone, _mollweide_grid, decision_rays, error_wedges, sector_class
from verifier.measure import generators_measure
from verifier.models.model import Model
from verifier.present.report import interval_text, render_report

REPO = Path(__file__).resolve().parent.parent
PERFECT = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]], name="perfect")
SLOW_PROOFS = {"handcrafted-3", "trained-4-3"}  # n = 3: decomposition, sphere map and sampling take seconds


def load_make_proofs():
    spec = importlib.util.spec_from_file_location("make_proofs", REPO / "proofs" / "make_proofs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE_PROOFS = load_make_proofs()


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's header (and a check that it is a PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def random_model(seed: int) -> Model:
    rng = np.random.default_rng(seed)
    return Model.from_arrays(rng.normal(size=(2, 1)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32),
                             rng.normal(size=(2, 2)).astype(np.float32), name=f"random-{seed}")


# -- the report for the perfect n = 2 model ---------------------------------------------------

def test_perfect_model_report_renders(tmp_path):
    files = render_report(PERFECT, tmp_path, samples=10**5)
    assert files.markdown == tmp_path / "report.md" and files.html == tmp_path / "report.html"
    assert [p.name for p in files.figures] == ["plane.png", "measures.png"]
    for png in files.figures:
        width, height = png_size(png)
        assert 600 <= width <= 2000 and 300 <= height <= 1500, (png.name, width, height)
        pixels = imread(png)
        assert pixels.shape[:2] == (height, width) and pixels.std() > 0.05  # decodes, and is not blank
    md = files.markdown.read_text()
    cert = certify(PERFECT)
    assert f"**{interval_text(cert.accuracy)}**" in md
    assert "error rate in **[0, 0]**, exactly 0 (certified)" in md
    assert "Classes: 4 near-equal" in md and "| P0 | 45.0000 -> 90.0000 | 2 | 2 | 0 (equal) |" in md
    assert "**Verified exactly**" in md
    assert "| float64 | 100,000 | 0.000000e+00 |" in md
    page = files.html.read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(e) for e in embedded] == [p.read_bytes() for p in files.figures]
    assert "<script" not in page and 'src="plane.png"' not in page


def test_report_of_a_model_with_wide_error_wedges(tmp_path):
    model = random_model(3)
    cert = certify(model)
    assert float(cert.error_rate.lo) > 0.01  # this model errs a lot: wedges too wide to need a zoom
    md = render_report(model, tmp_path, samples=2 * 10**5).markdown.read_text()
    assert f"**{interval_text(cert.error_rate)}**" in md
    row = re.search(r"^\| float64 \| 200,000 \| ([0-9.e+-]+) \| ([0-9.e+-]+) \| [0-9.]+ \| (\w+) \|$", md, re.M)
    assert row and row.group(3) == "yes", row  # the certified error rate lies within 4 stderr of sampling
    assert png_size(tmp_path / "plane.png")[0] == 800  # no zoom panels


# -- figures agree with the certified numbers --------------------------------------------------

@pytest.mark.parametrize("seed", [3, 5, 8])
def test_error_wedge_angles_match_certified_measures(seed):
    cert = certify(random_model(seed))
    wedges = error_wedges(cert.outcomes, cert.measures)
    assert len(wedges) == sum(not o.correct for o in cert.outcomes)
    for w in wedges:  # an n = 2 cone's measure is its angle / 360 degrees
        assert math.isclose(w.width / 360, w.measure.estimate, rel_tol=1e-9, abs_tol=1e-15), w


def test_perfect_model_boundary_is_the_diagonal():
    forms = delta_forms(certify(PERFECT).decomposition)
    rays = sorted(a for f in forms for a in decision_rays(f))
    assert rays == pytest.approx([45.0, 45.0, 225.0, 225.0])  # each diagonal ray bounds two sectors
    assert {sector_class(f.a0, f.a1) for f in forms} == {"near-equal"}


def test_sphere_map_is_equal_area():
    cert = certify("handcrafted:3")
    inside, dirs, _ = _mollweide_grid(600)
    pieces = cert.decomposition.pieces
    label, slack = _best_cone(dirs, [p.constraints for p in pieces])
    assert (slack > -1e-9).all()  # every direction lies in some piece
    share = np.bincount(label, minlength=len(pieces)) / len(dirs)
    for p, s in zip(pieces, share):
        assert abs(s - generators_measure(p.rays, p.lines, 3).estimate) < 0.003  # pixel area = Gaussian measure


# -- the CLI ------------------------------------------------------------------------------------

def test_cli_report_prints_the_paths(tmp_path, capsys):
    assert main(["report", "handcrafted:2", "-o", str(tmp_path / "r"), "--samples", "1000"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "r" / f) for f in ("report.md", "report.html", "plane.png", "measures.png")]
    assert all(Path(p).is_file() for p in printed)


@pytest.mark.parametrize("args, message", [
    (["--samples", "0"], "number of samples must be positive"),
    (["-o-is-a-file"], "exists and is not a folder"),
])
def test_cli_report_errors_are_one_line(tmp_path, capsys, args, message):
    target = tmp_path / "file.txt"
    target.write_text("x")
    out = ["-o", str(target)] if args == ["-o-is-a-file"] else ["-o", str(tmp_path / "r"), *args]
    assert main(["report", "handcrafted:2", *out]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


# -- the committed reports in proofs/ are current -------------------------------------------------

def test_m22_committed_report_shows_six_sectors():
    md = REPO / "proofs" / "m2-2" / "report.md"
    assert md.is_file(), "proofs/m2-2/report.md is missing: run python proofs/make_proofs.py"
    text = md.read_text()
    assert "**6 linear pieces**" in text and "Classes: 2 a0 < a1, 2 a0 > a1, 2 near-equal." in text


def _without_images(page: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,...", page)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_PROOFS else n
                                  for n in MAKE_PROOFS.PROOFS])
def test_committed_report_is_current(name, tmp_path, monkeypatch):
    """Regenerating a committed report gives the same text; figures the same files and sizes.

    PNG bytes are not compared: they may differ across matplotlib/freetype versions even when the
    drawing is the same. A code change that alters a proof fails here until
    ``python proofs/make_proofs.py`` is rerun and the result committed.
    """
    monkeypatch.setenv("ALGZOO_DIR", os.environ.get("ALGZOO_DIR", str(REPO.parent / "shared" / "algzoo")))
    reason = MAKE_PROOFS.unavailable(name)
    if reason:
        pytest.skip(f"{name}: {reason}")
    committed = REPO / "proofs" / name
    assert (committed / "report.md").is_file(), f"proofs/{name} is missing: run python proofs/make_proofs.py"
    fresh = MAKE_PROOFS.make(name, root=tmp_path)
    stale = f"proofs/{name} is stale: run python proofs/make_proofs.py {name} and commit the result"
    assert fresh.markdown.read_text() == (committed / "report.md").read_text(), stale
    assert _without_images(fresh.html.read_text()) == _without_images((committed / "report.html").read_text()), stale
    assert sorted(p.name for p in fresh.figures) == sorted(p.name for p in committed.glob("*.png")), stale
    for png in fresh.figures:
        assert png_size(png) == png_size(committed / png.name), stale
