"""Figures of a certification: the pieces and error cones in input space, and their measures.

Display only: every float here draws a picture; no decision is taken from it. Pieces are
classified exactly (Fractions), the geometry is drawn in float.

* n = 2: the x0-x1 plane as the unit disk (a sector's Gaussian measure is its share of the
  disk), sectors coloured by how Delta = a0*x0 - a1*x1 compares its coefficients, the decision
  boundary Delta = 0, the line x0 = x1 and the error wedges, with angular zooms on thin wedges;
* n = 3: the unit sphere in Mollweide's equal-area projection, pole at (1, 1, 1)/sqrt(3), so
  the order cells are lunes between meridians; pieces by colour, error cones in red;
* every n: bar charts of each piece's and each error cone's measure.

>>> sector_class(Fraction(426), Fraction(427)), sector_class(Fraction(30), Fraction(80))
('near-equal', 'a0 < a1')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import patches  # noqa: E402

from ..geometry.decomposition import DeltaPiece  # noqa: E402
from ..measure import Measure  # noqa: E402
from ..explain.surprise import NEAR_EQUAL_BELOW  # noqa: E402  (the near-equality surprise accounting prices)

CLASS_COLORS = {"a0 < a1": "#8ab6e6", "a0 > a1": "#96d39a", "near-equal": "#f4d85c"}
ERROR_COLOR = "#d62728"
ZOOM_BELOW_DEGREES = 2.0   # error wedges narrower than this get an angular zoom panel
MAX_ZOOMS = 4
DPI = 100
PNG_METADATA = {"Software": None}  # keep the matplotlib version out of the file
_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5}


@dataclass(frozen=True)
class ErrorWedge:
    """An error cone of an n = 2 model as a sector: ``label``, ccw start angle and width (degrees)."""

    label: str
    start: float
    width: float
    measure: Measure

    @property
    def center(self) -> float:
        return self.start + self.width / 2


def relative_difference(a0: Fraction, a1: Fraction) -> Fraction:
    """``|a0 - a1| / max(|a0|, |a1|)`` (0 when both are 0), exactly."""
    top = max(abs(a0), abs(a1))
    return Fraction(0) if top == 0 else abs(a0 - a1) / top


def sector_class(a0: Fraction, a1: Fraction) -> str:
    """``"near-equal"`` when ``relative_difference < NEAR_EQUAL_BELOW`` (the post's yellow), else which is larger."""
    if relative_difference(a0, a1) < NEAR_EQUAL_BELOW:
        return "near-equal"
    return "a0 < a1" if a0 < a1 else "a0 > a1"


def error_labels(outcomes) -> list[str | None]:
    """``"E1"``, ``"E2"``, ... for the error cones in order, None for the correct ones."""
    out, k = [], 0
    for o in outcomes:
        if o.correct:
            out.append(None)
        else:
            k += 1
            out.append(f"E{k}")
    return out


def cell_text(cell, n: int) -> str:
    """An order cell as inequalities: ``x0 > x1`` (n = 2), ``x2 > x0 > x1``, ``x3 > x7 > others``."""
    above = ",".join(f"x{i}" for i in cell.above)
    below = [i for i in range(n) if i != cell.target and i not in cell.above]
    rest = ",".join(f"x{i}" for i in below) if len(below) <= 2 else "others"
    return " > ".join(part for part in (above, f"x{cell.target}", rest) if part)


def _unit(vector: Sequence[int]) -> np.ndarray:
    """A float unit vector along an integer vector (scaled exactly first, so huge entries are fine)."""
    top = max(abs(v) for v in vector)
    v = np.array([float(Fraction(c, top)) for c in vector])
    return v / np.linalg.norm(v)


def _angle(vector: Sequence[int]) -> float:
    u = _unit(vector)
    return math.degrees(math.atan2(u[1], u[0])) % 360.0


def _cross(u, v):
    return u[0] * v[1] - u[1] * v[0]


def _sector(dp: DeltaPiece) -> tuple[float, float]:
    """(ccw start angle, width) in degrees of a piece's sector."""
    if not dp.bounding_rays:
        return 0.0, 360.0
    start, end = _angle(dp.bounding_rays[0]), _angle(dp.bounding_rays[1])
    return start, (end - start) % 360.0


def _inside(dp: DeltaPiece, v) -> bool:
    """Whether direction v lies in the piece's closed sector (exact)."""
    if not dp.bounding_rays:
        return True
    first, second = dp.bounding_rays
    if _cross(first, second) == 0:  # a half-plane
        return _cross(first, v) >= 0
    return _cross(first, v) >= 0 and _cross(v, second) >= 0


def decision_rays(dp: DeltaPiece) -> list[float]:
    """Angles (degrees) of the rays in the piece's sector where Delta = a0*x0 - a1*x1 = 0."""
    if dp.a0 == 0 and dp.a1 == 0:
        return []  # Delta vanishes on the whole piece: a tie, not a boundary
    v = (dp.a1, dp.a0)
    return [_angle_exact(w) for w in (v, (-v[0], -v[1])) if _inside(dp, w)]


def _angle_exact(v) -> float:
    return math.degrees(math.atan2(float(v[1]), float(v[0]))) % 360.0


def error_wedges(outcomes, measures) -> list[ErrorWedge]:
    """The error cones of an n = 2 certification as sectors."""
    out = []
    for label, o, m in zip(error_labels(outcomes), outcomes, measures):
        if label is None:
            continue
        if o.lines:  # a half-plane (or the plane): start at a line direction with the ray on its left
            line = o.lines[0]
            if o.rays and _cross(line, o.rays[0]) < 0:
                line = tuple(-c for c in line)
            out.append(ErrorWedge(label, _angle(line), 360.0 if len(o.lines) == 2 else 180.0, m))
            continue
        first, second = o.rays
        if _cross(first, second) < 0:
            first, second = second, first
        start = _angle(first)
        out.append(ErrorWedge(label, start, (_angle(second) - start) % 360.0, m))
    return out


def _offset(angle: float, center: float) -> float:
    """Signed angular difference ``angle - center`` in (-180, 180]."""
    return -((center - angle + 180.0) % 360.0 - 180.0)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)
    return path


# -- n = 2 ------------------------------------------------------------------------------

def plane_figure(deltas: Sequence[DeltaPiece], outcomes, measures, path: Path, title: str) -> Path:
    """The x0-x1 plane of an n = 2 model (see the module docstring); returns ``path``."""
    wedges = error_wedges(outcomes, measures)
    zooms = [w for w in wedges if w.width < ZOOM_BELOW_DEGREES][:MAX_ZOOMS]
    fig = plt.figure(figsize=(12.5 if zooms else 8.0, 8.0))
    grid = fig.add_gridspec(max(len(zooms), 1), 2 if zooms else 1, width_ratios=[1.7, 1] if zooms else None,
                            left=0.04, right=0.97, top=0.92, bottom=0.06, wspace=0.12, hspace=0.45)
    ax = fig.add_subplot(grid[:, 0])
    _draw_plane(ax, deltas, wedges)
    for row, wedge in enumerate(zooms):
        _draw_zoom(fig.add_subplot(grid[row, 1]), deltas, wedge)
    fig.suptitle(title, fontsize=13)
    return _save(fig, path)


def _draw_plane(ax, deltas, wedges) -> None:
    for dp in deltas:
        start, width = _sector(dp)
        cls = sector_class(dp.a0, dp.a1)
        ax.add_patch(patches.Wedge((0, 0), 1.0, start, start + width, facecolor=CLASS_COLORS[cls],
                                   edgecolor="#555555", linewidth=0.8))
        mid = math.radians(start + width / 2)
        text = f"P{dp.piece}\na0={float(dp.a0):.5g}\na1={float(dp.a1):.5g}"
        if cls == "near-equal" and dp.a0 != dp.a1:
            text += f"\nrel. diff {float(relative_difference(dp.a0, dp.a1)):.1e}"
        if width >= 35:
            ax.text(0.6 * math.cos(mid), 0.6 * math.sin(mid), text, ha="center", va="center", fontsize=8.5)
        else:  # a narrow sector: label outside, with a leader
            ax.annotate(text, (0.8 * math.cos(mid), 0.8 * math.sin(mid)),
                        (1.36 * math.cos(mid), 1.36 * math.sin(mid)), ha="center", va="center", fontsize=8.5,
                        arrowprops={"arrowstyle": "-", "color": "#555555", "linewidth": 0.7})
    ax.plot([-0.72, 0.72], [-0.72, 0.72], linestyle=(0, (6, 4)), color="#333333", linewidth=1.2, zorder=3)
    for dp in deltas:
        for angle in decision_rays(dp):
            r = math.radians(angle)
            ax.plot([0, math.cos(r)], [0, math.sin(r)], color="black", linewidth=2.2, zorder=4)
    for w in wedges:
        ax.add_patch(patches.Wedge((0, 0), 1.0, w.start, w.start + w.width, facecolor="none", hatch="////",
                                   edgecolor=ERROR_COLOR, linewidth=0, zorder=5))
        r = math.radians(w.center)
        ax.plot([math.cos(r), 1.1 * math.cos(r)], [math.sin(r), 1.1 * math.sin(r)], color=ERROR_COLOR,
                linewidth=2.5, zorder=5)
        ax.text(1.17 * math.cos(r), 1.17 * math.sin(r), w.label, color=ERROR_COLOR, fontsize=11,
                fontweight="bold", ha="center", va="center")
    ax.plot([-1.55, 1.55], [0, 0], color="#999999", linewidth=0.6, zorder=1)
    ax.plot([0, 0], [-1.55, 1.55], color="#999999", linewidth=0.6, zorder=1)
    ax.text(1.55, 0.02, "x0", fontsize=11, ha="right", va="bottom")
    ax.text(0.02, 1.55, "x1", fontsize=11, ha="left", va="top")
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    handles = [patches.Patch(facecolor=c, edgecolor="#555555", label=k) for k, c in CLASS_COLORS.items()]
    handles[2].set_label(f"near-equal (|a0-a1| < max/{NEAR_EQUAL_BELOW.denominator})")
    handles += [
        plt.Line2D([], [], color="black", linewidth=2.2, label="decision boundary Delta = 0"),
        plt.Line2D([], [], color="#333333", linestyle=(0, (6, 4)), label="x0 = x1"),
        patches.Patch(facecolor="white", edgecolor=ERROR_COLOR, hatch="////", label="error wedge (model wrong)"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8.5, framealpha=0.95)
    ax.set_title("Delta = logit1 - logit0 = a0*x0 - a1*x1 on each piece (unit disk: area = measure)",
                 fontsize=10)


def _draw_zoom(ax, deltas, wedge: ErrorWedge) -> None:
    """An angular zoom around a thin error wedge: angle offset (1e-4 rad) against radius."""
    half = max(1.5 * wedge.width, 1e-9)
    scale = math.pi / 180 * 1e4  # degrees -> units of 1e-4 rad

    def x(angle):
        return _offset(angle, wedge.center) * scale

    lo, hi = -half * scale, half * scale
    for dp in deltas:
        start, width = _sector(dp)
        color = CLASS_COLORS[sector_class(dp.a0, dp.a1)]
        for shift in (0.0, -360.0, 360.0):
            a = _offset(start, wedge.center) + shift
            left, right = max(a * scale, lo), min((a + width) * scale, hi)
            if left < right:
                ax.axvspan(left, right, color=color, zorder=0)
        for edge in (start, start + width):
            if abs(_offset(edge, wedge.center)) <= half and width < 360:
                ax.axvline(x(edge), color="#555555", linewidth=0.8)
    for diag in (45.0, 225.0):
        if abs(_offset(diag, wedge.center)) <= half:
            ax.axvline(x(diag), color="#333333", linestyle=(0, (6, 4)), linewidth=1.4, zorder=3)
            ax.text(x(diag), 0.93, "x0 = x1", ha="center", va="center", fontsize=8.5, zorder=6, bbox=_LABEL_BOX)
    for dp in deltas:
        for angle in decision_rays(dp):
            if abs(_offset(angle, wedge.center)) <= half:
                ax.axvline(x(angle), color="black", linewidth=2.2, zorder=4)
                ax.text(x(angle), 0.85, "Delta = 0", ha="center", va="center", fontsize=8.5, zorder=6,
                        bbox=_LABEL_BOX)
        start, width = _sector(dp)
        middle = _offset(start + width / 2, wedge.center)
        if abs(middle) < 90:  # name the pieces the window shows, at their visible part
            left, right = _offset(start, wedge.center), _offset(start, wedge.center) + width
            vis = (max(left, -half) + min(right, half)) / 2 * scale
            if max(left, -half) < min(right, half):
                ax.text(vis, 0.12, f"P{dp.piece}", ha="center", va="center", fontsize=10, color="#444444",
                        bbox=_LABEL_BOX)
    ax.axvspan(x(wedge.start), x(wedge.start) + wedge.width * scale, facecolor="none", hatch="////",
               edgecolor=ERROR_COLOR, linewidth=0, zorder=2)
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel(f"angle - {wedge.center:.4f} deg  (units of 1e-4 rad)", fontsize=9)
    ax.set_title(f"{wedge.label}: angular zoom, wedge {wedge.width * math.pi / 180:.2e} rad wide, "
                 f"measure {wedge.measure.estimate:.3e}", fontsize=9.5, color=ERROR_COLOR)
    ax.tick_params(labelsize=8)


# -- n = 3 ------------------------------------------------------------------------------

POLE = np.ones(3) / math.sqrt(3)            # all inputs equal
EAST = np.array([2.0, -1.0, -1.0]) / math.sqrt(6)   # longitude 0: x0 largest, x1 = x2
NORTH_OF_EAST = np.array([0.0, 1.0, -1.0]) / math.sqrt(2)
SQRT2 = math.sqrt(2)
PIECE_COLORS = [matplotlib.colors.to_rgb(c) for c in (  # no reds (errors) and no greys (edges)
    "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
    "#6baed6", "#fdae6b", "#74c476", "#9e9ac8", "#e7ba52", "#17becf", "#bcbd22", "#8c6d31")]


def _mollweide_grid(width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel centres of an equal-area map: (inside mask, directions (N, 3) of inside pixels, extent)."""
    height = width // 2
    xs = (np.arange(width) + 0.5) / width * 4 * SQRT2 - 2 * SQRT2
    ys = SQRT2 - (np.arange(height) + 0.5) / height * 2 * SQRT2
    gx, gy = np.meshgrid(xs, ys)
    inside = (gx / (2 * SQRT2)) ** 2 + (gy / SQRT2) ** 2 < 1
    theta = np.arcsin(gy[inside] / SQRT2)
    lat = np.arcsin((2 * theta + np.sin(2 * theta)) / math.pi)
    lon = math.pi * gx[inside] / (2 * SQRT2 * np.cos(theta))
    dirs = (np.cos(lat) * np.cos(lon))[:, None] * EAST + (np.cos(lat) * np.sin(lon))[:, None] * NORTH_OF_EAST \
        + np.sin(lat)[:, None] * POLE
    return inside, dirs, np.array([-2 * SQRT2, 2 * SQRT2, -SQRT2, SQRT2])


def _project(lon: float, lat: float) -> tuple[float, float]:
    """Mollweide map coordinates of a longitude/latitude (Newton's method for the auxiliary angle)."""
    theta = lat
    if abs(lat) < math.pi / 2 - 1e-9:
        for _ in range(60):
            step = (2 * theta + math.sin(2 * theta) - math.pi * math.sin(lat)) / (2 + 2 * math.cos(2 * theta))
            theta -= step
            if abs(step) < 1e-13:
                break
    return 2 * SQRT2 / math.pi * lon * math.cos(theta), SQRT2 * math.sin(theta)


def _mollweide(u: np.ndarray) -> tuple[float, float]:
    """Map coordinates of a unit direction."""
    lat = math.asin(max(-1.0, min(1.0, float(u @ POLE))))
    return _project(math.atan2(float(u @ NORTH_OF_EAST), float(u @ EAST)), lat)


def _best_cone(dirs: np.ndarray, cones: Sequence[Sequence[Sequence[int]]]) -> tuple[np.ndarray, np.ndarray]:
    """For each direction: the cone it satisfies best (max over cones of the min normalized slack
    ``r . u / |r|``) and that slack (>= 0 inside the cone)."""
    normals = [_unit(r) for rows in cones for r in rows]
    starts = np.cumsum([0] + [len(rows) for rows in cones[:-1]])
    if not normals or any(len(rows) == 0 for rows in cones):
        whole = [k for k, rows in enumerate(cones) if not rows]
        return np.full(len(dirs), whole[0] if whole else -1), np.full(len(dirs), 1.0 if whole else -np.inf)
    matrix = np.array(normals).T
    label = np.empty(len(dirs), dtype=int)
    best = np.empty(len(dirs))
    for lo in range(0, len(dirs), 16384):
        slack = np.minimum.reduceat(dirs[lo:lo + 16384] @ matrix, starts, axis=1)
        label[lo:lo + 16384] = slack.argmax(axis=1)
        best[lo:lo + 16384] = slack.max(axis=1)
    return label, best


def _boundaries(image: np.ndarray) -> np.ndarray:
    edge = np.zeros(image.shape, dtype=bool)
    edge[:, 1:] |= image[:, 1:] != image[:, :-1]
    edge[1:, :] |= image[1:, :] != image[:-1, :]
    return edge


def sphere_figure(pieces, outcomes, measures, path: Path, title: str, width: int = 800) -> Path:
    """The unit sphere of an n = 3 model in an equal-area map (see the module docstring)."""
    inside, dirs, extent = _mollweide_grid(width)
    piece_of, _ = _best_cone(dirs, [p.constraints for p in pieces])
    errors = [(label, o, m) for label, o, m in zip(error_labels(outcomes), outcomes, measures) if label]
    error_of, slack = _best_cone(dirs, [o.constraints for _, o, _ in errors]) if errors else (None, None)
    in_error = slack >= 0 if errors else np.zeros(len(dirs), dtype=bool)
    img = np.full(inside.shape, -1)
    img[inside] = piece_of
    colors = [PIECE_COLORS[k % len(PIECE_COLORS)] for k in range(len(pieces))]
    rgb = np.ones(inside.shape + (3,))
    rgb[inside] = np.array(colors)[piece_of] if pieces else 1.0
    rgb[_boundaries(img) & inside] = (0.25, 0.25, 0.25)
    err_img = np.zeros(inside.shape, dtype=bool)
    err_img[inside] = in_error
    rgb[err_img] = matplotlib.colors.to_rgb(ERROR_COLOR)
    if error_of is not None:
        eimg = np.full(inside.shape, -1)
        eimg[inside] = np.where(in_error, error_of, -1)
        rgb[_boundaries(eimg) & inside & ~err_img] = (0.5, 0.0, 0.0)

    fig, ax = plt.subplots(figsize=(13, 7.4))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.07)
    ax.imshow(rgb, extent=extent, interpolation="nearest", zorder=0)
    _draw_graticule(ax)
    counts = np.bincount(piece_of, minlength=len(pieces))
    for k in np.flatnonzero(counts >= 800):  # name the pieces big enough to hold a label
        u = dirs[piece_of == k].sum(axis=0)
        px, py = _mollweide(u / np.linalg.norm(u))
        ax.text(px, py, f"P{k}", ha="center", va="center", fontsize=9, color="#222222", zorder=6,
                bbox=_LABEL_BOX)
    for label, o, m in errors:
        if not o.rays:
            continue
        u = sum(_unit(r) for r in o.rays)
        u = u / np.linalg.norm(u)
        px, py = _mollweide(u)
        ax.plot(px, py, marker="o", markersize=9, markerfacecolor="none", markeredgecolor=ERROR_COLOR,
                markeredgewidth=1.6, zorder=5)
    ax.set_xlim(extent[0] - 0.05, extent[1] + 0.05)
    ax.set_ylim(extent[2] - 0.32, extent[3] + 0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    handles = [patches.Patch(facecolor=ERROR_COLOR, label="error cone (model wrong); small ones circled"),
               plt.Line2D([], [], color="black", linestyle=(0, (5, 4)), label="x_i = x_j (order cells)"),
               patches.Patch(facecolor=colors[0] if colors else "white", edgecolor="#404040",
                             label="linear pieces (one colour each, dark edges)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9.5, frameon=False)
    fig.suptitle(title, fontsize=13)
    ax.set_title("Equal-area (Mollweide) map of directions x/|x|: area = Gaussian measure. "
                 "Top pole: x0 = x1 = x2 > 0; bottom: all equal < 0", fontsize=10)
    return _save(fig, path)


def _draw_graticule(ax) -> None:
    """The order-cell meridians x_i = x_j, the ellipse outline and the cells' order labels."""
    theta = np.linspace(0, 2 * math.pi, 400)
    ax.plot(2 * SQRT2 * np.cos(theta), SQRT2 * np.sin(theta), color="black", linewidth=1.0)
    lat = np.linspace(-math.pi / 2, math.pi / 2, 181)
    for k in range(-3, 4):
        pts = [_project(k * math.pi / 3, a) for a in lat]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="black", linestyle=(0, (5, 4)), linewidth=1.0)
    for k in range(6):
        lon = -math.pi + math.pi / 6 + k * math.pi / 3
        u = math.cos(lon) * EAST + math.sin(lon) * NORTH_OF_EAST
        order = "".join(f"x{i}>" for i in np.argsort(-u))[:-1]
        px, _ = _mollweide(u)
        ax.text(px, -SQRT2 - 0.14, order, ha="center", va="top", fontsize=10)


# -- every n ----------------------------------------------------------------------------

def measure_figure(piece_measures: dict[int, Measure], outcomes, measures, path: Path, title: str) -> Path:
    """Bar charts (log scale) of each piece's measure and each error cone's, with interval error bars."""
    errors = [(f"{label}\nP{o.piece}", m) for label, o, m in zip(error_labels(outcomes), outcomes, measures) if label]
    fig, axes = plt.subplots(2 if errors else 1, 1, figsize=(11, 8 if errors else 4.5), squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.1, hspace=0.55)
    _bars(axes[0, 0], list(piece_measures), [f"P{k}" for k in piece_measures], list(piece_measures.values()),
          "#4c72b0", f"measure of each linear piece ({len(piece_measures)} pieces)")
    if errors:
        _bars(axes[1, 0], list(range(1, len(errors) + 1)), [label for label, _ in errors], [m for _, m in errors],
              ERROR_COLOR, f"measure of each error cone ({len(errors)} cones)")
    fig.suptitle(title, fontsize=13)
    return _save(fig, path)


def _bars(ax, positions: Sequence[int], labels, ms: Sequence[Measure], color: str, title: str) -> None:
    """Bars at x = positions (the numbers in the labels P0.. or E1..)."""
    est = np.array([max(m.estimate, 0.0) for m in ms])
    lo = np.array([float(m.lo) for m in ms])
    hi = np.array([float(m.hi) for m in ms])
    positive = est[est > 0]
    log = positive.size > 0 and positive.max() / positive.min() > 50
    x = np.array(positions)
    ax.bar(x, est, color=color, width=0.75)
    if len(ms) <= 24:
        for xi, v in zip(x, est):
            ax.text(xi, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.errorbar(x, est, yerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)], fmt="none",
                ecolor="black", capsize=2, linewidth=0.8)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(positive.min() / 3, positive.max() * 3)
    if len(ms) <= 24:
        ax.set_xticks(x, labels, fontsize=8)
    elif len(ms) <= 80:
        ax.set_xticks(x, [t.replace("\n", " ") for t in labels], fontsize=7.5, rotation=90)
    else:
        ax.set_xlabel(f"number k of {labels[0][0]}k (too many bars to name each)")
    ax.set_ylabel("Gaussian measure" + (" (log scale)" if log else ""))
    ax.set_title(title + "; error bars: certified interval (invisible when tight)", fontsize=10)
    ax.grid(axis="y", linewidth=0.4, alpha=0.6)
