"""The figure of `drift --plot`: both sets in one PCA projection, and the permutation null with the
observed statistic. Drawn as the other figures (reports/plots.py): matplotlib only when asked, no pyplot,
the default style, the same file for the same inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ShapeError
from .. import plots


def plot_drift(path, projection, is_reference, null, observed: float, statistic: str = "MMD²",
               title: str = "", variance_shares=None) -> Path:
    """Write both sets in one 2-D PCA projection (left) and the permutation null of the test
    statistic with the observed value (right) to `path`. See `drift_figure` for what is drawn.

    Example: plot_drift("drift.png", xy, labels == 1, null, observed=0.012)
    """
    fmt = plots._format_of(path)
    plots._require_matplotlib()
    with plots._style():
        fig = drift_figure(projection, is_reference, null, observed, statistic, title=title,
                           variance_shares=variance_shares)
        return plots._save(fig, path, fmt)


def drift_figure(projection, is_reference, null, observed: float, statistic: str = "MMD²", title: str = "",
                 variance_shares=None):
    """The `plot_drift` figure as a `matplotlib.figure.Figure`, two panels side by side.

    Left: the rows of both sets on the top two principal axes of the pooled rows (reference blue,
    current orange). Right: the histogram of the statistic under the permutations and a line at
    the observed value, with the share of the null at or above it. `variance_shares`: each axis's
    share of the pooled rows' variance, shown on its label.
    """
    projection = np.asarray(projection, dtype=np.float64)
    is_reference = np.asarray(is_reference, dtype=bool)
    if projection.ndim != 2 or projection.shape[1] != 2 or len(is_reference) != len(projection):
        raise ShapeError(f"projection must be (n, 2) with one flag per row, got {projection.shape} "
                         f"and {is_reference.shape}")
    fig = plots._new_figure(panels=2)
    scatter_ax, null_ax = fig.subplots(1, 2)
    size = float(np.clip(3000 / max(len(projection), 1), 2, 30))
    for mask, name, colour in ((is_reference, "reference", "tab:blue"), (~is_reference, "current", "tab:orange")):
        scatter_ax.scatter(projection[mask, 0], projection[mask, 1], s=size, alpha=0.5, color=colour, linewidths=0,
                           label=f"{name} ({int(mask.sum()):,})", gid=name)
    shares = [*([] if variance_shares is None else list(variance_shares)), None, None]
    for axis, share, set_label in ((1, shares[0], scatter_ax.set_xlabel), (2, shares[1], scatter_ax.set_ylabel)):
        set_label(f"PC{axis} ({share:.1%} of variance)" if plots._is_number(share) else f"PC{axis}")
    scatter_ax.set_title("both sets, shared PCA projection")
    scatter_ax.legend(loc="best", fontsize="small", markerscale=max(1, 30 / size) ** 0.5)
    values = plots._finite(null)
    edges = plots._shared_bins(np.append(values, observed))
    null_ax.stairs(np.histogram(values, bins=edges)[0], edges, fill=True, alpha=0.6, color="tab:grey",
                   label=f"permutations ({values.size:,})", gid="null")
    above = float((values >= observed).mean()) if values.size else float("nan")
    null_ax.axvline(observed, color="tab:red", lw=1.6, label=f"observed {observed:.4g} ({above:.1%} of null >= it)",
                    gid="observed")
    null_ax.set_xlabel(statistic)
    null_ax.set_ylabel("permutations")
    null_ax.set_title("permutation null distribution")
    null_ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def drift_plot_args(report) -> dict:
    """The arguments of `drift_figure` (and `plot_drift`) for a `DriftReport`."""
    f = report.figures
    name = "MMD²" if report.null_statistic == "mmd2" else "share of neighbours from the own set"
    return dict(projection=report.projection, is_reference=report.projection_labels == 1, null=report.null,
                observed=f[report.null_statistic], statistic=name, variance_shares=report.projection_shares,
                title=f"{plots.short_paths(f['reference'])} -> {plots.short_paths(f['current'])}: "
                      f"{'drift' if f['drift'] else 'no drift'}")
