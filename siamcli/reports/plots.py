"""Figures for `evaluate --plot` and `inspect --plot`: plain arrays in, an image file out.

matplotlib is an optional extra (`pip install 'siamcli[plot]'`), imported only when a figure
is asked for. Figures are built with `matplotlib.figure.Figure` on an Agg canvas, never with
pyplot, so no GUI backend is touched and no global figure state is left behind. They are drawn
under matplotlib's default style (not the user's matplotlibrc) so the same inputs give the
same file, byte for byte.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import counted, ShapeError, UsageError, mention

#: Output suffix -> matplotlib format name; the suffix of the --plot file picks the format.
PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: Size of one panel in inches, and the resolution of raster output.
PANEL_INCHES = (5.5, 4.5)
FIGURE_DPI = 100
#: At most this many classes get a legend entry each; more get a colour bar instead.
LEGEND_MAX_CLASSES = 20
#: Histograms use sqrt(n) shared bins, kept within these bounds.
MIN_BINS, MAX_BINS = 10, 100
#: Row norms whose median is this close to 1 look L2-normalised: mark 1.0 on the histogram.
UNIT_NORM_TOLERANCE = 0.05
#: Metadata that would otherwise carry the current date into SVG and PDF files.
_NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


@dataclass(frozen=True, eq=False)  # eq on arrays would raise; compare fields yourself
class RocCurve:
    """One metric's ROC curve: FPR and TPR at each threshold, its equal error rate and area.

    `eer` is the rate where FPR = 1 - TPR (None if unknown); `auc` the area under (fpr, tpr).

    >>> RocCurve("cosine", np.array([0.0, 0.1, 1.0]), np.array([0.0, 0.8, 1.0]), eer=0.15, auc=0.85).name
    'cosine'
    """

    name: str
    fpr: np.ndarray
    tpr: np.ndarray
    eer: float | None
    auc: float


def plot_evaluation(path, curves: Sequence[RocCurve], positive_scores, negative_scores,
                    threshold: float | None, higher_is_better: bool, title: str = "",
                    score_label: str = "") -> Path:
    """Write ROC curves (left) and the positive/negative score histograms (right) to `path`.

    The format follows the suffix (.png, .svg, .pdf). `positive_scores`/`negative_scores` are
    the scores of one metric (the first or best of `curves`); `score_label` names it on the
    histogram axis (default: the first curve's name). See `evaluation_figure` for what is drawn.

    Example: plot_evaluation("roc.png", [curve], pos, neg, threshold=0.42, higher_is_better=True)
    """
    fmt = _format_of(path)
    _require_matplotlib()
    with _style():
        fig = evaluation_figure(curves, positive_scores, negative_scores, threshold, higher_is_better,
                                title=title, score_label=score_label)
        return _save(fig, path, fmt)


def plot_inspection(path, norms, projection=None, classes=None, title: str = "") -> Path:
    """Write the histogram of row norms and, given `projection`, a 2-D PCA scatter to `path`.

    The format follows the suffix (.png, .svg, .pdf). See `inspection_figure` for what is drawn.

    Example: plot_inspection("embeddings.pdf", norms, projection=xy, classes=labels)
    """
    fmt = _format_of(path)
    _require_matplotlib()
    with _style():
        fig = inspection_figure(norms, projection, classes, title=title)
        return _save(fig, path, fmt)


def evaluation_figure(curves: Sequence[RocCurve], positive_scores, negative_scores,
                      threshold: float | None, higher_is_better: bool, title: str = "",
                      score_label: str = ""):
    """The `plot_evaluation` figure as a `matplotlib.figure.Figure`, two panels side by side.

    Left: each curve's TPR against FPR on a log axis, its EER point (eer, 1 - eer), AUC and EER
    in the legend, and the chance line TPR = FPR. FPR 0 (no false positive) has no place on a
    log axis: such points are drawn at 1/(10 * n_negative), one decade below the smallest
    non-zero FPR that n_negative pairs can give, and the axis starts there. Right: positive and
    negative scores as fractions of their own count over shared bins, and the threshold.
    """
    if not curves:
        raise ValueError("evaluation_figure needs at least one ROC curve")
    positives, negatives = _finite(positive_scores), _finite(negative_scores)
    fig = _new_figure(panels=2)
    roc_ax, hist_ax = fig.subplots(1, 2)
    _draw_roc(roc_ax, curves, n_negative=np.asarray(negative_scores).size)
    label = score_label or curves[0].name
    direction = "higher" if higher_is_better else "lower"
    _draw_score_histograms(hist_ax, positives, negatives, threshold, f"{label} ({direction} = more similar)")
    if title:
        fig.suptitle(title)
    return fig


def inspection_figure(norms, projection=None, classes=None, title: str = ""):
    """The `plot_inspection` figure as a `matplotlib.figure.Figure`.

    Left: histogram of row norms, with a line at 1.0 when the median norm is within
    UNIT_NORM_TOLERANCE of 1. Right (only with `projection`, an (n, 2) array): the rows
    projected on two principal components, coloured by `classes` (n labels) with a legend of up
    to LEGEND_MAX_CLASSES classes and a colour bar of class indices beyond; one colour without.
    """
    if projection is not None:
        projection = np.asarray(projection, dtype=np.float64)
        if projection.ndim != 2 or projection.shape[1] != 2:
            raise ValueError(f"projection must be an (n, 2) array, got shape {projection.shape}")
        if classes is not None and len(classes) != len(projection):
            raise ShapeError(f"{counted(len(classes), 'class label')} for {counted(len(projection), 'projected row')}")
    fig = _new_figure(panels=1 if projection is None else 2)
    axes = fig.subplots(1, 1 if projection is None else 2, squeeze=False)[0]
    _draw_norm_histogram(axes[0], _finite(norms))
    if projection is not None:
        _draw_projection(fig, axes[1], projection, classes)
    if title:
        fig.suptitle(title)
    return fig


def _draw_roc(ax, curves: Sequence[RocCurve], n_negative: int) -> None:
    # The smallest FPR anything could show: 1/n_negative, or a finer one the curves hold.
    candidates = [1.0 / n_negative] if n_negative else []
    candidates += [float(f[f > 0].min()) for f in (np.asarray(c.fpr, dtype=np.float64) for c in curves) if (f > 0).any()]
    floor = min(candidates, default=1.0) / 10
    for i, curve in enumerate(curves):
        fpr, tpr = np.asarray(curve.fpr, dtype=np.float64), np.asarray(curve.tpr, dtype=np.float64)
        if fpr.shape != tpr.shape or fpr.ndim != 1:
            raise ValueError(f"{curve.name}: fpr and tpr must be 1-D arrays of one length, "
                             f"got shapes {fpr.shape} and {tpr.shape}")
        label = f"{curve.name} (AUC {curve.auc:.3f}"
        label += f", EER {curve.eer:.1%})" if _is_number(curve.eer) else ")"
        # Beyond ten curves the colour cycle repeats; a new line style keeps them apart.
        style = ("-", "--", ":", "-.")[(i // 10) % 4]
        (line,) = ax.plot(*_roc_on_log_axis(fpr, tpr, floor), style, lw=1.6, label=label, gid="roc")
        if _is_number(curve.eer):
            ax.plot([max(curve.eer, floor)], [1 - curve.eer], "o", color=line.get_color(), ms=6,
                    markeredgecolor="black", label="_nolegend_", gid="eer")
    chance = np.geomspace(floor, 1.0, 200)
    ax.plot(chance, chance, ":", color="grey", lw=1, label="chance", gid="chance")
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("false positive rate (log scale)")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC (dots: equal error rate)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")


def _roc_on_log_axis(fpr: np.ndarray, tpr: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """The ROC polyline (straight between its points in linear FPR) as points for a log FPR axis.

    A straight segment in linear FPR is a curve on a log axis; drawn straight it would put, say,
    the chance diagonal (0, 0)-(1, 1) above chance. Long segments get points spaced evenly in
    log FPR on the linear interpolation; FPR below `floor` (0) is drawn at `floor`.
    """
    x = np.maximum(fpr, floor)
    start, end = x[:-1], fpr[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        decades = np.where(end > start, np.log10(end / start), 0.0)
    long = np.flatnonzero((tpr[1:] != tpr[:-1]) & (decades > 0.02))
    xs, ys, done = [], [], 0
    for i in long:  # a few dozen at most: the axis spans a few decades
        inner = np.geomspace(start[i], end[i], int(np.ceil(decades[i] * 50)) + 1)[1:-1]
        xs += [x[done:i + 1], inner]
        ys += [tpr[done:i + 1], tpr[i] + (tpr[i + 1] - tpr[i]) * (inner - fpr[i]) / (fpr[i + 1] - fpr[i])]
        done = i + 1
    return np.concatenate(xs + [x[done:]]), np.concatenate(ys + [tpr[done:]])


def _draw_score_histograms(ax, positives: np.ndarray, negatives: np.ndarray, threshold, xlabel: str) -> None:
    edges = _shared_bins(np.concatenate([positives, negatives]))
    for values, name, colour in ((negatives, "negative pairs", "tab:red"), (positives, "positive pairs", "tab:blue")):
        counts = np.histogram(values, bins=edges)[0]
        fractions = counts / max(values.size, 1)
        ax.stairs(fractions, edges, fill=True, alpha=0.45, color=colour, label=f"{name} (n={values.size:,})",
                  gid=name.split()[0])
    if _is_number(threshold):
        ax.axvline(threshold, color="black", ls="--", lw=1.2, label=f"threshold {threshold:.4g}", gid="threshold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of pairs per bin")
    ax.set_title("score distribution")
    ax.legend(loc="best", fontsize="small")


def _draw_norm_histogram(ax, norms: np.ndarray) -> None:
    edges = _shared_bins(norms)
    ax.stairs(np.histogram(norms, bins=edges)[0], edges, fill=True, alpha=0.6, color="tab:blue", gid="norms")
    if norms.size and abs(float(np.median(norms)) - 1.0) <= UNIT_NORM_TOLERANCE:
        ax.axvline(1.0, color="black", ls="--", lw=1.2, label="norm 1", gid="unit-norm")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel("L2 norm of each row")
    ax.set_ylabel("rows")
    ax.set_title(f"row norms (n={norms.size:,})")


def _draw_projection(fig, ax, projection: np.ndarray, classes) -> None:
    x, y = projection[:, 0], projection[:, 1]
    # Smaller, lighter points as rows grow, so dense regions stay readable.
    size = float(np.clip(3000 / max(len(projection), 1), 2, 30))
    if classes is None:
        ax.scatter(x, y, s=size, alpha=0.7, color="tab:blue", linewidths=0, gid="points")
    else:
        names, codes = np.unique(np.asarray(classes), return_inverse=True)
        codes = codes.reshape(-1)
        if len(names) <= LEGEND_MAX_CLASSES:
            colours = _class_colours(len(names))
            for code, name in enumerate(names):
                mask = codes == code
                ax.scatter(x[mask], y[mask], s=size, alpha=0.7, color=colours[code], linewidths=0,
                           label=f"{name} ({int(mask.sum())})", gid="points")
            ax.legend(title="class (rows)", fontsize="small", ncols=1 if len(names) <= 10 else 2,
                      loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, markerscale=max(1, 30 / size) ** 0.5)
        else:
            points = ax.scatter(x, y, c=codes, cmap="viridis", vmin=-0.5, vmax=len(names) - 0.5, s=size,
                                alpha=0.7, linewidths=0, gid="points")
            fig.colorbar(points, ax=ax, label=f"class index ({len(names)} classes, sorted)")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("PCA projection")


def _class_colours(k: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i) for i in range(k)]


def _shared_bins(values: np.ndarray) -> np.ndarray:
    """sqrt(n) equal-width bin edges over the values' range (numpy's "auto" can ask for billions
    of bins when a few outliers sit far from a tight bulk)."""
    n_bins = int(np.clip(np.ceil(np.sqrt(values.size)), MIN_BINS, MAX_BINS))
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi)):
        # Equal up to rounding (norms of normalised rows, say), too close for bins of their own:
        # one unit-wide range around them, as numpy gives for equal values, and an odd bin count
        # so they fall in the middle bin rather than on an edge.
        lo, hi = (lo + hi) / 2 - 0.5, (lo + hi) / 2 + 0.5
        n_bins |= 1
    return np.linspace(lo, hi, n_bins + 1)


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return values[np.isfinite(values)]


def _is_number(value) -> bool:
    return value is not None and bool(np.isfinite(value))


def check_plot_path(path) -> None:
    """Fail early, before any work, when a plot cannot be written: no matplotlib or a bad suffix."""
    _format_of(path)
    _require_matplotlib()


def _format_of(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_FORMATS:
        problem = f"'{suffix}' is not a supported image format" if suffix else "no suffix to pick the image format"
        raise UsageError(f"{mention('plot')} {os.fspath(path)}: {problem}; use one of {', '.join(PLOT_FORMATS)}")
    return PLOT_FORMATS[suffix]


def _require_matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise UsageError(f"{mention('plot')} needs matplotlib: pip install 'siamcli[plot]'") from None
    return matplotlib


def _style():
    # The default style, not the user's matplotlibrc, and a fixed SVG id salt: same inputs, same file.
    import matplotlib.style

    return matplotlib.style.context(["default", {"svg.hashsalt": "siamcli"}])


def _new_figure(panels: int):
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = PANEL_INCHES
    fig = Figure(figsize=(width * panels, height), dpi=FIGURE_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, fmt: str) -> Path:
    # Render to memory first: a drawing error leaves no file, and an OSError below can only come
    # from the file itself.
    from ..files import write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=FIGURE_DPI, metadata=_NO_DATE[fmt])
    write_bytes(path, buffer.getvalue())  # whole or not at all; an InputError names the path
    return Path(path)
