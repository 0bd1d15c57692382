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
import re
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
#: At most this many ROC and DET curves in a panel: the best by AUC; a footnote names the others.
MAX_CURVES = 6
#: One line style per curve shown, beside its own colour (tab10's first MAX_CURVES): both tell them apart.
CURVE_STYLES = ("-", "--", ":", "-.", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (10, 3)))
#: Error rates a DET axis may mark, labelled in percent.
DET_TICKS = (1e-5, 1e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99)
#: The title wraps onto at most this many lines; beyond, it is cut with an ellipsis.
TITLE_LINES = 3
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
                    score_label: str = "", threshold_name: str = "threshold",
                    eer_threshold: float | None = None) -> Path:
    """Write ROC and DET curves and the positive/negative score histograms to `path`.

    The format follows the suffix (.png, .svg, .pdf). `positive_scores`/`negative_scores` are
    the scores of one metric (the first or best of `curves`); `score_label` names it on the
    histogram axis (default: the first curve's name). See `evaluation_figure` for what is drawn.

    Example: plot_evaluation("roc.png", [curve], pos, neg, threshold=0.42, higher_is_better=True)
    """
    fmt = _format_of(path)
    _require_matplotlib()
    with _style():
        fig = evaluation_figure(curves, positive_scores, negative_scores, threshold, higher_is_better,
                                title=title, score_label=score_label, threshold_name=threshold_name,
                                eer_threshold=eer_threshold)
        return _save(fig, path, fmt)


def plot_inspection(path, norms, projection=None, classes=None, title: str = "", variance_shares=None) -> Path:
    """Write the histogram of row norms and, given `projection`, a 2-D PCA scatter to `path`.

    The format follows the suffix (.png, .svg, .pdf). See `inspection_figure` for what is drawn.

    Example: plot_inspection("embeddings.pdf", norms, projection=xy, classes=labels)
    """
    fmt = _format_of(path)
    _require_matplotlib()
    with _style():
        fig = inspection_figure(norms, projection, classes, title=title, variance_shares=variance_shares)
        return _save(fig, path, fmt)


def evaluation_figure(curves: Sequence[RocCurve], positive_scores, negative_scores,
                      threshold: float | None, higher_is_better: bool, title: str = "",
                      score_label: str = "", threshold_name: str = "threshold",
                      eer_threshold: float | None = None):
    """The `plot_evaluation` figure as a `matplotlib.figure.Figure`, three panels side by side.

    Left: each curve's TPR against FPR on a log axis, its EER point (eer, 1 - eer), AUC and EER
    in the legend, and the chance line TPR = FPR (dotted grey). FPR 0 (no false positive) has no
    place on a log axis: such points are drawn at 1/(10 * n_negative), one decade below the
    smallest non-zero FPR that n_negative pairs can give, and the axis starts there. Middle: the
    DET curve, false non-match rate 1 - TPR against false match rate FPR, both on normal-deviate
    (probit) axes marked in percent; rates of 0 or 1 have no place there and are left out. Both
    panels draw at most MAX_CURVES curves, the best by AUC (`shown_curves`), each in its own colour
    and line style; a footnote names the others. Right: positive and negative scores as fractions
    of their own count over shared bins, the threshold (dashed, named `threshold_name`) and, given,
    the EER threshold (dash-dotted). File paths in the title and curve names show as file names.
    """
    if not curves:
        raise ValueError("evaluation_figure needs at least one ROC curve")
    shown, left_out = shown_curves(curves)
    positives, negatives = _finite(positive_scores), _finite(negative_scores)
    fig = _new_figure(panels=3)
    roc_ax, det_ax, hist_ax = fig.subplots(1, 3)
    _draw_roc(roc_ax, shown, n_negative=np.asarray(negative_scores).size)
    _draw_det(det_ax, shown)
    label = _shown(score_label or shown[0].name)
    direction = "higher" if higher_is_better else "lower"
    lines = [(threshold, threshold_name, "--"), (eer_threshold, "EER threshold", "-.")]
    _draw_score_histograms(hist_ax, positives, negatives, lines, f"{label} ({direction} = more similar)")
    if left_out:
        names = ", ".join(_shown(c.name) for c in left_out)
        note = fig.supxlabel(f"Not drawn ({len(left_out)} of lower AUC): {names}", fontsize="small", x=0.01,
                             ha="left")
        note.set_gid("left-out")
        _fit_text(fig, note, lines=2)
    if title:
        _fit_text(fig, fig.suptitle(_shown(title)))
    return fig


def shown_curves(curves: Sequence[RocCurve], limit: int = MAX_CURVES) -> tuple[list[RocCurve], list[RocCurve]]:
    """(the curves a panel draws: the `limit` best by AUC, best first, ties in the order given;
    the others, in the same order). An AUC that is not a number ranks last."""
    ranked = sorted(curves, key=lambda c: -c.auc if _is_number(c.auc) else np.inf)
    return ranked[:limit], ranked[limit:]


def inspection_figure(norms, projection=None, classes=None, title: str = "", variance_shares=None):
    """The `plot_inspection` figure as a `matplotlib.figure.Figure`.

    Left: histogram of row norms, with a line at 1.0 when the median norm is within
    UNIT_NORM_TOLERANCE of 1. Right (only with `projection`, an (n, 2) array): the rows
    projected on two principal components, coloured by `classes` (n labels) with a legend of up
    to LEGEND_MAX_CLASSES classes and a colour bar of class indices beyond; one colour without.
    `variance_shares`: each component's share of the total variance, shown on its axis
    ("PC1 (23.4%)"). File paths in the title show as file names; a long title wraps.
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
        _draw_projection(fig, axes[1], projection, classes, variance_shares)
    if title:
        _fit_text(fig, fig.suptitle(_shown(title)))
    return fig


def overlap_figure(shared, k: int, title: str = ""):
    """How many of its k nearest neighbours each item keeps from space A to space B (`shared`: one
    count per item, 0 to k), as bars of items per count, with the mean marked; a `diff` figure."""
    shared = np.asarray(shared, dtype=np.int64).reshape(-1)
    if shared.size and (shared.min() < 0 or shared.max() > k):
        raise ValueError(f"shared neighbour counts must lie in 0..{k}")
    fig = _new_figure(panels=1)
    ax = fig.subplots()
    ax.bar(np.arange(k + 1), np.bincount(shared, minlength=k + 1), color="tab:blue", alpha=0.7, gid="shared")
    if shared.size:
        mean = float(shared.mean())
        ax.axvline(mean, color="black", ls="--", lw=1.2, label=f"mean {mean:.2f} of {k} shared", gid="mean")
        ax.legend(loc="best", fontsize="small")
    if k <= 12:  # a label per count; beyond, matplotlib's own ticks
        ax.set_xticks(np.arange(k + 1), [f"{i}/{k}" for i in range(k + 1)])
    ax.set_xlabel(f"nearest neighbours shared by A and B (of {k})")
    ax.set_ylabel("items")
    ax.set_title(f"neighbourhoods kept (n={shared.size:,})", fontsize="medium")
    if title:
        _fit_text(fig, fig.suptitle(_shown(title)))
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
        label = f"{_shown(curve.name)} (AUC {curve.auc:.3f}"
        label += f", EER {curve.eer:.1%})" if _is_number(curve.eer) else ")"
        (line,) = ax.plot(*_roc_on_log_axis(fpr, tpr, floor), lw=1.6, label=label, gid="roc", **_curve_style(i))
        if _is_number(curve.eer):
            ax.plot([max(curve.eer, floor)], [1 - curve.eer], "o", color=line.get_color(), ms=6,
                    markeredgecolor="black", label="_nolegend_", gid="eer")
    chance = np.geomspace(floor, 1.0, 200)
    ax.plot(chance, chance, ":", color="grey", lw=1, label="_chance", gid="chance")  # named in the title
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("false positive rate (log scale)")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC (dots: equal error rate; grey: chance)", fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")


def _curve_style(i: int) -> dict:
    """The colour and line style of the i-th curve shown: both distinct among MAX_CURVES."""
    from matplotlib import colormaps

    return dict(color=colormaps["tab10"](i % 10), linestyle=CURVE_STYLES[i % len(CURVE_STYLES)])


def det_points(fpr, tpr) -> tuple[np.ndarray, np.ndarray]:
    """The DET curve of ROC rates on normal-deviate axes: (probit(FPR), probit(1 - TPR)) of the points
    where both rates are strictly between 0 and 1 (probit(0) and probit(1) are infinite)."""
    from scipy.special import ndtri  # the standard normal's quantile function (scipy.stats.norm.ppf)

    fpr, fnr = np.asarray(fpr, dtype=np.float64), 1.0 - np.asarray(tpr, dtype=np.float64)
    inside = (fpr > 0) & (fpr < 1) & (fnr > 0) & (fnr < 1)
    return ndtri(fpr[inside]), ndtri(fnr[inside])


def _draw_det(ax, curves: Sequence[RocCurve]) -> None:
    from scipy.special import ndtr, ndtri

    ends = []  # the smallest and largest deviate of each curve
    for i, curve in enumerate(curves):
        x, y = det_points(curve.fpr, curve.tpr)
        (line,) = ax.plot(x, y, lw=1.6, label=_shown(curve.name), gid="det", **_curve_style(i))
        if _is_number(curve.eer) and 0 < curve.eer < 1:
            ax.plot([ndtri(curve.eer)], [ndtri(curve.eer)], "o", color=line.get_color(), ms=6,
                    markeredgecolor="black", label="_nolegend_", gid="det-eer")
        if x.size:
            ends += [min(x.min(), y.min()), max(x.max(), y.max())]
    rates = ndtr(np.array(ends))
    lo = float(np.clip(rates.min() / 2, DET_TICKS[0], 0.01)) if rates.size else 0.001
    hi = float(np.clip(rates.max() * 1.2, 0.5, DET_TICKS[-1])) if rates.size else 0.5
    ticks = []
    for p in (p for p in DET_TICKS if lo <= p <= hi):  # labels at least a tenth of the axis apart
        if not ticks or ndtri(p) - ndtri(ticks[-1]) >= (ndtri(hi) - ndtri(lo)) / 10:
            ticks.append(p)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(ndtri(ticks), [f"{p * 100:g}%" for p in ticks])
    ax.set_xlim(ndtri(lo), ndtri(hi))
    ax.set_ylim(ndtri(lo), ndtri(hi))
    ax.plot(ndtri([lo, hi]), ndtri([lo, hi]), ":", color="grey", lw=1, label="_equal", gid="det-equal")
    ax.set_xlabel("false match rate, FMR (%, normal-deviate scale)")
    ax.set_ylabel("false non-match rate, FNMR (%)")
    ax.set_title("DET (dots: EER, on the grey line FMR = FNMR)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="upper right", fontsize="small")


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


def _draw_score_histograms(ax, positives: np.ndarray, negatives: np.ndarray, thresholds, xlabel: str) -> None:
    """`thresholds`: (value, name, line style) of each vertical line; a value that is not a number is skipped."""
    edges = _shared_bins(np.concatenate([positives, negatives]))
    for values, name, colour in ((negatives, "negative pairs", "tab:red"), (positives, "positive pairs", "tab:blue")):
        counts = np.histogram(values, bins=edges)[0]
        fractions = counts / max(values.size, 1)
        ax.stairs(fractions, edges, fill=True, alpha=0.45, color=colour, label=f"{name} (n={values.size:,})",
                  gid=name.split()[0])
    for value, name, style in thresholds:
        if _is_number(value):
            gid = "eer-threshold" if name == "EER threshold" else "threshold"
            ax.axvline(value, color="black", ls=style, lw=1.2, label=f"{name} {value:.4g}", gid=gid)
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


def _draw_projection(fig, ax, projection: np.ndarray, classes, variance_shares=None) -> None:
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
                           label=_literal(f"{name} ({int(mask.sum())})"), gid="points")
            ax.legend(title="class (rows)", fontsize="small", ncols=1 if len(names) <= 10 else 2,
                      loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, markerscale=max(1, 30 / size) ** 0.5)
        else:
            points = ax.scatter(x, y, c=codes, cmap="viridis", vmin=-0.5, vmax=len(names) - 0.5, s=size,
                                alpha=0.7, linewidths=0, gid="points")
            fig.colorbar(points, ax=ax, label=f"class index ({len(names)} classes, sorted)")
    shares = [*([] if variance_shares is None else list(variance_shares)), None, None]
    ax.set_xlabel(f"PC1 ({shares[0]:.1%} of variance)" if _is_number(shares[0]) else "PC1")
    ax.set_ylabel(f"PC2 ({shares[1]:.1%} of variance)" if _is_number(shares[1]) else "PC2")
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


_PATH = re.compile(r"(?:[^\s:'\"()/]*/)+(?=[^\s/])")


def short_paths(text: str) -> str:
    """`text` with each file path (a word holding "/") shown as its file name: a title names files,
    not where they sit. A folder name with a space in it is cut at the space.

    >>> short_paths("all pairs of /tmp/x/emb.npy by classes in ../labels.txt")
    'all pairs of emb.npy by classes in labels.txt'
    """
    return _PATH.sub("", text)


def _literal(text) -> str:
    """Text a figure shows as written: a "$" is a dollar sign, not the start of math (mathtext)."""
    return str(text).replace("$", r"\$")


def _shown(text) -> str:
    """A title, curve name or axis label from the caller: file names for paths, taken literally."""
    return _literal(short_paths(str(text)))


def _fit_text(fig, text, lines: int = TITLE_LINES) -> None:
    """Wrap the figure's `text` (a matplotlib Text) onto at most `lines` lines that lie within the
    figure's width, cutting what does not fit with an ellipsis."""
    import textwrap

    renderer = fig.canvas.get_renderer()
    full = text.get_text()
    inside = lambda: (lambda box: box.x0 >= 0 and box.x1 <= fig.bbox.width)(text.get_window_extent(renderer))  # noqa: E731
    if inside():
        return
    width = max(8, int(len(full) * fig.bbox.width / text.get_window_extent(renderer).width))
    while True:
        wrapped = textwrap.wrap(full, width, break_long_words=True) or [""]
        if len(wrapped) > lines:
            wrapped = wrapped[:lines]
            wrapped[-1] = wrapped[-1][: max(1, width - 1)].rstrip() + "\u2026"
        text.set_text("\n".join(wrapped))
        if inside() or width <= 8:
            return
        width -= max(1, width // 20)


def figure_svg(build, salt: str = "siamcli") -> str:
    """The figure `build()` makes (under the default style), as SVG markup to place inside HTML:
    no XML prolog or DOCTYPE, text kept as text, and ids salted with `salt` (one per figure of a
    page, so that two figures' clip paths never share an id).

    Example: figure_svg(lambda: inspection_figure(norms), salt="inspect-1")
    """
    import matplotlib

    _require_matplotlib()
    buffer = io.BytesIO()
    with _style(), matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        build().savefig(buffer, format="svg", metadata=_NO_DATE["svg"])
    text = buffer.getvalue().decode("utf-8")
    return text[text.index("<svg"):]


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
