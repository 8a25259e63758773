"""The coverage QC plot: what the actor reference covers, over the plate's frames.

Three panels share the frame axis: each component's distance to the nearest actor frame
over its tolerance (covered below the dashed line at 1), the plate's mouth and eye
opening against the actor's range (bands), and its head yaw and pitch against the
actor's range. Uncovered ranges are shaded red and listed with their reasons underneath;
frames that do not count (no face, interpolated) are shaded grey.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..io.atomic import atomic_path
from .coverage_report import COMPONENTS, CoverageReport

_COLOURS = {"mouth": "#d62728", "eyes": "#1f77b4", "pose": "#2ca02c", "shape": "#9467bd",
            "yaw": "#ff7f0e", "pitch": "#17becf"}
_UNCOVERED = "#e31a1c"
#: footer characters per line: monospace 8.5 pt across the 12 inch figure
_WRAP = 140
_LINE_IN = 0.16


def _spans(frames: np.ndarray, mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) frame of each run of True in ``mask``."""
    out: list[tuple[int, int]] = []
    for f, m in zip(frames, mask):
        if not m:
            continue
        if out and out[-1][1] == f - 1:
            out[-1] = (out[-1][0], int(f))
        else:
            out.append((int(f), int(f)))
    return out


def plot_coverage(report: CoverageReport, path: Path, title: str = "") -> Path:
    """Write the coverage plot PNG to ``path`` (atomically); returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    frames = np.asarray(report.frames)
    lines = [textwrap.fill(r.text, _WRAP, subsequent_indent="    ") for r in report.ranges]
    footer = "\n".join(lines) or "every counted plate frame is covered"
    footer_in = _LINE_IN * (footer.count("\n") + 1)
    height = 7.0 + footer_in
    fig = Figure(figsize=(12, height), dpi=110)
    FigureCanvasAgg(fig)
    # below the axes: tick labels and the axis label (~0.55 in), then the footer
    bottom = (0.2 + footer_in + 0.6) / height
    grid = fig.add_gridspec(3, 1, height_ratios=(2.2, 1, 1), hspace=0.12, left=0.07,
                            right=0.84, top=1 - 0.55 / height, bottom=bottom)
    dist, expr, pose = (fig.add_subplot(grid[i]) for i in range(3))
    for ax in (expr, pose):
        ax.sharex(dist)
    half = 0.5
    for ax in (dist, expr, pose):
        for a, b in _spans(frames, ~report.counted):
            ax.axvspan(a - half, b + half, color="0.85", lw=0)
        for r in report.ranges:
            ax.axvspan(r.first - half, r.last + half, color=_UNCOVERED, alpha=0.13, lw=0)
        ax.grid(True, color="0.9", lw=0.6)
        ax.set_xlim(frames[0] - half, frames[-1] + half)

    tol = report.tolerances
    units = {"pose": "deg", "mouth": "", "eyes": "", "shape": "eye dist."}
    # The combined curve equals its worst component: drawn wide and pale underneath, so
    # the component that sets it stays visible on top.
    dist.plot(frames, report.distance["combined"], color="k", lw=3.5, alpha=0.35, zorder=2,
              label="combined (worst)")
    for c in COMPONENTS:
        dist.plot(frames, report.distance[c] / tol[c], color=_COLOURS[c], lw=1.2, zorder=3,
                  label=f"{c} (tol {tol[c]:g}{' ' + units[c] if units[c] else ''})")
    dist.axhline(1.0, color="k", ls="--", lw=1.0)
    dist.text(frames[0], 1.0, " tolerance", va="bottom", ha="left", fontsize=8)
    if report.blips:
        blip = np.isin(frames, report.blips)
        dist.plot(frames[blip], report.distance["combined"][blip], "x", color=_UNCOVERED,
                  label="blip (ignored)")
    top = np.nanmax(report.distance["combined"]) if np.isfinite(report.distance["combined"]).any() else 1.0
    dist.set_ylim(0, max(1.5, min(float(top) * 1.1, 6.0)))
    for r in report.ranges:
        dist.text(0.5 * (r.first + r.last), dist.get_ylim()[1], f"{r.first}-{r.last}",
                  ha="center", va="bottom", fontsize=8, color=_UNCOVERED)
    dist.set_ylabel("distance to nearest\nactor frame / tolerance")
    if report.ranges:
        dist.fill_between([], [], color=_UNCOVERED, alpha=0.13, label="uncovered")
    if not report.counted.all():
        dist.fill_between([], [], color="0.85", label="not counted\n(no face, interpolated)")

    for ax, names, values, unit in (
            (expr, ("mouth", "eyes"), (report.mouth, report.eyes), "opening"),
            (pose, ("yaw", "pitch"), (report.pose[:, 0], report.pose[:, 1]), "degrees")):
        for name, v in zip(names, values):
            lo, hi = report.actor_range[name]
            ax.axhspan(lo, hi, color=_COLOURS[name], alpha=0.12, lw=0)
            for edge in (lo, hi):  # a range of one value still shows
                ax.axhline(edge, color=_COLOURS[name], alpha=0.4, lw=0.6)
            ax.plot(frames, v, color=_COLOURS[name], lw=1.3, label=f"plate {name}")
            ax.plot([], [], color=_COLOURS[name], alpha=0.3, lw=6, label=f"actor {name} range")
        ax.set_ylabel(unit)
    pose.set_xlabel("plate frame")
    pose.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (dist, expr):
        ax.tick_params(labelbottom=False)
    for ax in (dist, expr, pose):
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    counted = int(report.counted.sum())
    fig.suptitle(f"{title + ': ' if title else ''}actor reference covers "
                 f"{report.covered_count}/{counted} plate frames", x=0.07, ha="left",
                 y=1 - 0.15 / height, fontsize=11)
    fig.text(0.07, 0.2 / height, footer, ha="left", va="bottom", fontsize=8.5,
             color=_UNCOVERED if report.ranges else "0.3", family="monospace")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    except OSError as err:
        raise MediaError(str(path), "a writable folder", str(err),
                         "check free disk space and permissions on the folder") from err
    return path
