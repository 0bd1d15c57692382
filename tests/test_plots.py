"""Figures for --plot: real PNGs rendered on Agg from load_digits scores, checked as images and as artists.

ROC arrays, AUCs, EERs and the PCA projection are computed here with scikit-learn and numpy,
independently of siamcli; the figure tests check that what is drawn is exactly those numbers.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siamcli.errors import InputError, ShapeError, UsageError
from siamcli.reports.plots import (FIGURE_DPI, PANEL_INCHES, RocCurve, det_points, evaluation_figure, figure_svg,
                                   inspection_figure, overlap_figure, plot_evaluation, plot_inspection,
                                   short_paths)

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib is the optional [plot] extra")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_DIGITS = 200


def reference_eer(fpr, tpr):
    """EER the plain way: the ROC point where FPR and the miss rate 1 - TPR are closest."""
    i = int(np.argmin(np.abs(fpr - (1 - tpr))))
    return (fpr[i] + 1 - tpr[i]) / 2, i


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x[:N_DIGITS].astype(np.float64), y[:N_DIGITS]


@pytest.fixture(scope="module")
def pairs(digits):
    """Cosine and euclidean scores of every digit pair, whether the pair is one digit, and ROC curves."""
    from sklearn.metrics import roc_auc_score, roc_curve

    x, y = digits
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    upper = np.triu_indices(len(x), k=1)
    same = (y[:, None] == y[None, :])[upper]
    cosine = (unit @ unit.T)[upper]
    euclidean = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1))[upper]
    curves, thresholds = [], {}
    for name, scores in (("cosine", cosine), ("euclidean", -euclidean)):  # sklearn wants higher = positive
        fpr, tpr, thr = roc_curve(same, scores)
        eer, i = reference_eer(fpr, tpr)
        curves.append(RocCurve(name, fpr, tpr, eer, roc_auc_score(same, scores)))
        thresholds[name] = thr[i]
    return {"same": same, "cosine": cosine, "euclidean": euclidean, "curves": curves, "thresholds": thresholds}


@pytest.fixture(scope="module")
def projection(digits):
    x, _ = digits
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def cosine_figure(pairs, curves=None, **kwargs):
    same, cosine = pairs["same"], pairs["cosine"]
    return evaluation_figure(curves or pairs["curves"][:1], cosine[same], cosine[~same],
                             pairs["thresholds"]["cosine"], True, **kwargs)


def by_gid(artists, gid):
    return [a for a in artists if a.get_gid() == gid]


def legend_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def read_png(path):
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    return data, imread(path)


def assert_not_blank(image):
    assert image.shape[-1] == 4 and image.std() > 0.05
    rgba = np.ascontiguousarray(np.round(image * 255).astype(np.uint8)).view(np.uint32)  # one int per pixel
    assert len(np.unique(rgba)) > 50  # lines, fills and anti-aliased text, not a flat page


def panel_pixels(panels):
    width, height = PANEL_INCHES
    return round(height * FIGURE_DPI), round(panels * width * FIGURE_DPI)


# --- optional dependency ------------------------------------------------------------------------

def test_plots_import_does_not_import_matplotlib():
    code = "import siamcli.reports.plots, sys; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@needs_matplotlib
def test_plots_never_load_pyplot(tmp_path):
    # pyplot picks a (possibly GUI) backend and keeps figures in global state; Agg canvases need neither.
    code = ("import sys, numpy as np; from siamcli.reports.plots import plot_inspection; "
            f"plot_inspection(r'{tmp_path / 'n.png'}', np.arange(1.0, 50.0), np.ones((3, 2)), [1, 2, 2]); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert (tmp_path / "n.png").read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("call", [
    lambda path: plot_evaluation(path, [RocCurve("cosine", np.r_[0.0, 1.0], np.r_[0.0, 1.0], 0.5, 0.5)],
                                 [0.9], [0.1], 0.5, True),
    lambda path: plot_inspection(path, np.ones(4)),
], ids=["evaluation", "inspection"])
def test_plots_without_matplotlib_raise_usage_error_naming_the_extra(tmp_path, monkeypatch, call):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` sees when it is absent
    with pytest.raises(UsageError, match=r"siamcli\[plot\]"):
        call(tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


# --- files: format, size, errors -----------------------------------------------------------------

@needs_matplotlib
def test_plot_evaluation_writes_a_png_of_the_figure_size(tmp_path, pairs):
    same, cosine = pairs["same"], pairs["cosine"]
    path = tmp_path / "roc.png"
    written = plot_evaluation(str(path), pairs["curves"], cosine[same], cosine[~same],
                              pairs["thresholds"]["cosine"], True, title="digits", score_label="cosine")
    assert written == path
    data, image = read_png(path)
    assert len(data) > 20_000
    assert image.shape[:2] == panel_pixels(3)  # ROC, DET, score histograms
    assert_not_blank(image)


@needs_matplotlib
@pytest.mark.parametrize("with_projection, panels", [(True, 2), (False, 1)])
def test_plot_inspection_writes_a_png_with_one_panel_per_view(tmp_path, digits, projection, with_projection, panels):
    x, y = digits
    path = tmp_path / "inspect.png"
    plot_inspection(path, np.linalg.norm(x, axis=1), projection if with_projection else None,
                    y if with_projection else None, title="digits")
    data, image = read_png(path)
    assert len(data) > 10_000
    assert image.shape[:2] == panel_pixels(panels)
    assert_not_blank(image)


@needs_matplotlib
@pytest.mark.parametrize("name, signature", [
    ("plot.svg", b"<?xml"), ("plot.pdf", b"%PDF-"), ("PLOT.PNG", PNG_SIGNATURE),
])
def test_plot_format_follows_the_suffix(tmp_path, name, signature):
    plot_inspection(tmp_path / name, np.linspace(0.5, 2.0, 40))
    data = (tmp_path / name).read_bytes()
    assert data.startswith(signature)
    if name.endswith(".svg"):
        assert b"<svg" in data[:2000]


@needs_matplotlib
@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_same_inputs_give_the_same_bytes(tmp_path, monkeypatch, suffix):
    # SVG ids and PDF/SVG dates would otherwise change on every run; matplotlib dates files
    # from SOURCE_DATE_EPOCH when set, so two different "nows" show whether a date got in.
    curve = RocCurve("cosine", np.r_[0.0, 0.1, 1.0], np.r_[0.0, 0.7, 1.0], 0.2, 0.8)
    outputs = []
    for k, now in enumerate(["0", "1700000000"]):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", now)
        outputs.append(plot_evaluation(tmp_path / f"{k}{suffix}", [curve], [0.9, 0.8, 0.7], [0.1, 0.2, 0.75], 0.72,
                                       True, title="same bytes"))
    assert outputs[0].read_bytes() == outputs[1].read_bytes()


@pytest.mark.parametrize("name", ["plot.jpg", "plot", "plot.png.txt"])
def test_plot_unsupported_suffix_lists_the_supported_ones(tmp_path, name):
    with pytest.raises(UsageError, match=r"\.png, \.svg, \.pdf") as caught:
        plot_inspection(tmp_path / name, np.ones(3))
    assert name in str(caught.value)
    assert not (tmp_path / name).exists()


@needs_matplotlib
@pytest.mark.parametrize("where", ["missing-directory", "is-a-directory"])
def test_plot_unwritable_path_raises_input_error_naming_it(tmp_path, where):
    path = tmp_path / "no such dir" / "plot.png" if where == "missing-directory" else tmp_path / "dir.png"
    if where == "is-a-directory":
        path.mkdir()
    with pytest.raises(InputError, match="cannot write") as caught:
        plot_inspection(path, np.ones(3))
    assert str(path) in str(caught.value)
    assert caught.value.__suppress_context__  # raised `from None`: one line, no chained OSError


# --- what the evaluation figure draws -------------------------------------------------------------

@needs_matplotlib
def test_evaluation_figure_roc_lines_lie_on_the_sklearn_roc(pairs):
    fig = cosine_figure(pairs, curves=pairs["curves"])
    roc_ax = fig.axes[0]
    n_negative = int((~pairs["same"]).sum())
    floor = 1 / (10 * n_negative)
    assert roc_ax.get_xscale() == "log"
    assert roc_ax.get_xlim() == pytest.approx((floor, 1.0))
    lines = by_gid(roc_ax.get_lines(), "roc")
    assert len(lines) == 2
    by_auc = sorted(pairs["curves"], key=lambda c: -c.auc)  # drawn best first
    assert [line.get_label().split()[0] for line in lines] == [c.name for c in by_auc]
    for line, curve in zip(lines, by_auc):
        x, y = (np.asarray(v, dtype=np.float64) for v in line.get_data())
        assert x.min() == pytest.approx(floor) and x.max() == 1.0
        # Every sklearn vertex is drawn (FPR 0 at the floor) ...
        vertices = set(zip(np.maximum(curve.fpr, floor).tolist(), curve.tpr.tolist()))
        assert vertices <= set(zip(x.tolist(), y.tolist()))
        # ... and every added point is on the straight segment between two vertices (linear FPR).
        fpr, tpr = curve.fpr, curve.tpr
        for xi, yi in zip(x, y):
            if np.isin(xi, fpr) or xi == floor:
                continue
            i = np.searchsorted(fpr, xi, side="right") - 1
            expected = tpr[i] + (tpr[i + 1] - tpr[i]) * (xi - fpr[i]) / (fpr[i + 1] - fpr[i])
            assert yi == pytest.approx(expected, abs=1e-12)
    labels = legend_labels(roc_ax)
    for curve in pairs["curves"]:
        assert any(label.startswith(curve.name) and f"AUC {curve.auc:.3f}" in label for label in labels)
    assert len(labels) == len(pairs["curves"])  # the chance line is named in the title, not the legend
    assert len(by_gid(roc_ax.get_lines(), "chance")) == 1 and "chance" in roc_ax.get_title()


@needs_matplotlib
def test_evaluation_figure_marks_each_eer_at_fpr_equal_miss_rate(pairs):
    with_eer, without_eer = pairs["curves"][0], RocCurve("euclidean", pairs["curves"][1].fpr,
                                                         pairs["curves"][1].tpr, None, pairs["curves"][1].auc)
    fig = cosine_figure(pairs, curves=[with_eer, without_eer])
    dots = by_gid(fig.axes[0].get_lines(), "eer")
    assert len(dots) == 1
    assert np.asarray(dots[0].get_data(), dtype=np.float64).ravel() == pytest.approx([with_eer.eer, 1 - with_eer.eer])
    labels = {label.split()[0]: label for label in legend_labels(fig.axes[0])}
    assert f"EER {with_eer.eer:.1%}" in labels["cosine"]
    assert "EER" not in labels["euclidean"]


@needs_matplotlib
@pytest.mark.parametrize("metric, direction", [("cosine", "higher"), ("euclidean", "lower")])
def test_evaluation_figure_histograms_share_bins_and_show_each_class_as_fractions(pairs, metric, direction):
    same, scores = pairs["same"], pairs[metric]
    threshold = 31.5
    fig = evaluation_figure(pairs["curves"], scores[same], scores[~same], threshold, metric == "cosine",
                            score_label=metric)
    hist_ax = fig.axes[2]
    (positive,), (negative,) = by_gid(hist_ax.patches, "positive"), by_gid(hist_ax.patches, "negative")
    assert np.array_equal(positive.get_data().edges, negative.get_data().edges)
    edges = positive.get_data().edges
    assert edges[0] == scores.min() and edges[-1] == scores.max()
    for patch, group in ((positive, scores[same]), (negative, scores[~same])):
        assert patch.get_data().values == pytest.approx(np.histogram(group, bins=edges)[0] / len(group))
        assert patch.get_data().values.sum() == pytest.approx(1.0)
    (line,) = by_gid(hist_ax.get_lines(), "threshold")
    assert line.get_xdata()[0] == threshold
    assert f"threshold {threshold:.4g}" in legend_labels(hist_ax)
    assert hist_ax.get_xlabel() == f"{metric} ({direction} = more similar)"
    assert f"positive pairs (n={same.sum():,})" in legend_labels(hist_ax)


@needs_matplotlib
@pytest.mark.parametrize("n_curves", [1, 3, 6, 7, 18])
def test_evaluation_figure_draws_the_best_six_curves_by_auc_and_names_the_others(pairs, n_curves):
    from matplotlib.colors import to_rgba

    base = pairs["curves"][0]
    rng = np.random.default_rng(n_curves)
    aucs = rng.permutation(np.linspace(0.6, 0.95, n_curves))  # best not first: the figure must rank them
    curves = [RocCurve(f"/data/run{k}/model{k}.npy m{k}", base.fpr, np.clip(base.tpr * (1 - 0.02 * k), 0, 1),
                       base.eer, float(auc)) for k, auc in enumerate(aucs)]
    fig = cosine_figure(pairs, curves=curves, title="all metrics")
    best = [curves[i] for i in np.argsort(-aucs, kind="stable")[:6]]
    for ax, gid in ((fig.axes[0], "roc"), (fig.axes[1], "det")):
        lines = by_gid(ax.get_lines(), gid)
        # File names, not paths; the best first.
        assert [line.get_label().split(" (AUC")[0] for line in lines] == [f"model{c.name.split('model')[1]}"
                                                                          for c in best]
        assert len(legend_labels(ax)) == len(best) <= 6
        colours = [tuple(np.round(to_rgba(line.get_color()), 6)) for line in lines]
        styles = [str(line.get_linestyle()) + str(line._dash_pattern) for line in lines]
        assert len(set(colours)) == len(lines) and len(set(styles)) == len(lines)  # each distinct in both
    assert len(by_gid(fig.axes[0].get_lines(), "eer")) == len(best)
    notes = [t for t in fig.texts if t.get_gid() == "left-out"]
    if n_curves > 6:
        (note,) = notes
        left_out = [c for c in curves if c not in best]
        assert f"{len(left_out)} of lower AUC" in note.get_text()
        text = " ".join(note.get_text().split())
        shown = [c for c in left_out if f"model{c.name.split('model')[1]}" in text]
        assert len(shown) == len(left_out) or text.endswith("\u2026")  # all named, or cut to fit
        assert "/data" not in text
    else:
        assert notes == []
    assert "all metrics" in [t.get_text() for t in fig.texts]


@needs_matplotlib
def test_evaluation_figure_all_scores_equal_is_the_chance_line(tmp_path):
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = np.r_[np.ones(5, bool), np.zeros(20, bool)]
    scores = np.full(25, 0.7)
    fpr, tpr, _ = roc_curve(labels, scores)
    assert fpr.tolist() == [0.0, 1.0]
    curve = RocCurve("cosine", fpr, tpr, *reference_eer(fpr, tpr)[:1], roc_auc_score(labels, scores))
    fig = evaluation_figure([curve], scores[labels], scores[~labels], 0.7, True)
    x, y = (np.asarray(v, dtype=np.float64) for v in by_gid(fig.axes[0].get_lines(), "roc")[0].get_data())
    assert len(x) > 20  # the segment (0, 0)-(1, 1) bends on a log axis; two points would draw it straight
    assert y[1:] == pytest.approx(x[1:], abs=1e-12)
    (positive,) = by_gid(fig.axes[2].patches, "positive")
    values, edges = positive.get_data().values, positive.get_data().edges
    assert values.sum() == 1.0 and values.max() == 1.0
    assert edges[0] < 0.7 < edges[-1]
    centre = np.argmax(values)
    assert edges[centre] < 0.7 < edges[centre + 1]  # inside a bin, not on its edge
    _, image = read_png(plot_evaluation(tmp_path / "equal.png", [curve], scores[labels], scores[~labels], 0.7, True))
    assert_not_blank(image)


@needs_matplotlib
def test_evaluation_figure_fpr_zero_without_negatives_falls_back_to_the_curves():
    curve = RocCurve("cosine", np.r_[0.0, 0.0, 0.25, 1.0], np.r_[0.0, 0.5, 0.9, 1.0], 0.2, 0.9)
    fig = evaluation_figure([curve], [0.9, 0.8], [], None, True)
    assert fig.axes[0].get_xlim() == pytest.approx((0.025, 1.0))  # a decade below the smallest FPR > 0
    assert by_gid(fig.axes[2].get_lines(), "threshold") == []
    (negative,) = by_gid(fig.axes[2].patches, "negative")
    assert negative.get_data().values.sum() == 0


def test_evaluation_figure_needs_a_curve():
    with pytest.raises(ValueError, match="at least one ROC curve"):
        evaluation_figure([], [1.0], [0.0], 0.5, True)


@needs_matplotlib
@settings(max_examples=15, deadline=None)
@given(
    positives=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
    negatives=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=80),
    higher_is_better=st.booleans(),
)
def test_evaluation_figure_any_scores_give_proper_histograms_and_a_drawable_roc(positives, negatives, higher_is_better):
    from sklearn.metrics import roc_curve

    labels = np.r_[np.ones(len(positives), bool), np.zeros(len(negatives), bool)]
    scores = np.r_[positives, negatives]
    fpr, tpr, _ = roc_curve(labels, scores if higher_is_better else -scores)
    fig = evaluation_figure([RocCurve("m", fpr, tpr, None, 0.5)], positives, negatives, None, higher_is_better)
    x, _ = by_gid(fig.axes[0].get_lines(), "roc")[0].get_data()
    assert np.min(x) >= 1 / (10 * len(negatives)) * (1 - 1e-12)
    for gid, group in (("positive", positives), ("negative", negatives)):
        (patch,) = by_gid(fig.axes[2].patches, gid)
        assert patch.get_data().values.sum() == pytest.approx(1.0)
        assert patch.get_data().edges[0] <= min(group) and max(group) <= patch.get_data().edges[-1]


# --- what the inspection figure draws -------------------------------------------------------------

@needs_matplotlib
@pytest.mark.parametrize("normalised", [False, True])
def test_inspection_figure_norm_histogram_counts_rows_and_marks_unit_norm(digits, normalised):
    x, _ = digits
    if normalised:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    norms = np.sqrt((x * x).sum(axis=1))
    fig = inspection_figure(norms)
    assert len(fig.axes) == 1
    (patch,) = by_gid(fig.axes[0].patches, "norms")
    values, edges = patch.get_data().values, patch.get_data().edges
    assert values == pytest.approx(np.histogram(norms, bins=edges)[0])
    assert values.sum() == len(x)
    unit_lines = by_gid(fig.axes[0].get_lines(), "unit-norm")
    if normalised:
        (line,) = unit_lines
        assert line.get_xdata()[0] == 1.0
        assert values.max() == len(x)  # norms equal up to rounding land in one bin, not split on an edge
    else:
        assert unit_lines == []


@needs_matplotlib
def test_inspection_figure_scatter_colours_each_class_with_a_legend(digits, projection):
    x, y = digits
    fig = inspection_figure(np.linalg.norm(x, axis=1), projection, y)
    scatter_ax = fig.axes[1]
    groups = by_gid(scatter_ax.collections, "points")
    assert len(groups) == 10
    for digit, group in enumerate(groups):
        assert np.asarray(group.get_offsets()) == pytest.approx(projection[y == digit])
    assert len({tuple(g.get_facecolor()[0]) for g in groups}) == 10
    counts = np.bincount(y)
    assert legend_labels(scatter_ax) == [f"{d} ({counts[d]})" for d in range(10)]
    assert (scatter_ax.get_xlabel(), scatter_ax.get_ylabel()) == ("PC1", "PC2")  # no shares given


@needs_matplotlib
def test_inspection_figure_class_with_one_member_gets_its_own_entry(digits, projection):
    x, y = digits
    classes = np.where(np.arange(len(y)) == 7, "lonely", y.astype(str))
    fig = inspection_figure(np.linalg.norm(x, axis=1), projection, list(classes))
    (lonely,) = [g for g in by_gid(fig.axes[1].collections, "points") if g.get_label().startswith("lonely")]
    assert np.asarray(lonely.get_offsets()) == pytest.approx(projection[[7]])
    assert "lonely (1)" in legend_labels(fig.axes[1])


@needs_matplotlib
def test_inspection_figure_many_classes_get_a_colour_bar_not_a_legend(tmp_path, digits, projection):
    x, _ = digits
    classes = np.arange(len(x)) % 25
    fig = inspection_figure(np.linalg.norm(x, axis=1), projection, classes)
    (points,) = by_gid(fig.axes[1].collections, "points")
    assert np.asarray(points.get_array()) == pytest.approx(classes)  # sorted class index
    assert fig.axes[1].get_legend() is None
    assert len(fig.axes) == 3  # norms, scatter, colour bar
    _, image = read_png(plot_inspection(tmp_path / "many.png", np.linalg.norm(x, axis=1), projection, classes))
    assert_not_blank(image)


@needs_matplotlib
def test_inspection_figure_without_classes_uses_one_colour(digits, projection):
    x, _ = digits
    fig = inspection_figure(np.linalg.norm(x, axis=1), projection)
    (points,) = by_gid(fig.axes[1].collections, "points")
    assert np.asarray(points.get_offsets()) == pytest.approx(projection)
    assert len(np.unique(points.get_facecolor(), axis=0)) == 1
    assert fig.axes[1].get_legend() is None


@needs_matplotlib
def test_inspection_figure_rejects_mismatched_projection_and_classes(projection):
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        inspection_figure(np.ones(3), np.ones((3, 3)))
    with pytest.raises(ShapeError, match=f"2 class labels for {len(projection)} projected rows"):
        inspection_figure(np.ones(3), projection, ["a", "b"])


# --- DET curves, thresholds, titles that fit, shares of variance ---------------------------------

@needs_matplotlib
def test_evaluation_figure_det_points_are_the_probits_of_the_roc_rates(pairs):
    from scipy.stats import norm

    fig = cosine_figure(pairs, curves=pairs["curves"])
    det_ax = fig.axes[1]
    for line, curve in zip(by_gid(det_ax.get_lines(), "det"), sorted(pairs["curves"], key=lambda c: -c.auc)):
        fnmr = 1 - curve.tpr
        inside = (curve.fpr > 0) & (curve.fpr < 1) & (fnmr > 0) & (fnmr < 1)
        x, y = (np.asarray(v, dtype=np.float64) for v in line.get_data())
        assert x == pytest.approx(norm.ppf(curve.fpr[inside]), rel=1e-12)
        assert y == pytest.approx(norm.ppf(fnmr[inside]), rel=1e-12)
        assert np.isfinite(x).all() and np.isfinite(y).all()
    dot = by_gid(det_ax.get_lines(), "det-eer")[0]
    eer = max(pairs["curves"], key=lambda c: c.auc).eer
    assert np.asarray(dot.get_data(), dtype=np.float64).ravel() == pytest.approx([norm.ppf(eer)] * 2)
    assert "%" in det_ax.get_xlabel() and "%" in det_ax.get_ylabel()
    assert "FMR" in det_ax.get_xlabel() and "FNMR" in det_ax.get_ylabel()
    for axis in (det_ax.xaxis, det_ax.yaxis):
        labels = [t.get_text() for t in axis.get_ticklabels()]
        assert labels and all(label.endswith("%") for label in labels)
        # Each tick sits at the probit of the rate its label says.
        rates = [float(label[:-1]) / 100 for label in labels]
        assert axis.get_ticklocs() == pytest.approx(norm.ppf(rates))


def test_det_points_leave_out_rates_of_zero_and_one():
    from scipy.stats import norm

    x, y = det_points(np.r_[0.0, 0.1, 0.5, 1.0], np.r_[0.2, 0.6, 1.0, 1.0])
    assert x == pytest.approx(norm.ppf([0.1])) and y == pytest.approx(norm.ppf([0.4]))


@needs_matplotlib
def test_evaluation_figure_names_each_threshold_line(pairs):
    same, cosine = pairs["same"], pairs["cosine"]
    fig = evaluation_figure(pairs["curves"][:1], cosine[same], cosine[~same], 0.61, True,
                            threshold_name="best-accuracy threshold", eer_threshold=0.58)
    hist_ax = fig.axes[2]
    (best,), (eer,) = by_gid(hist_ax.get_lines(), "threshold"), by_gid(hist_ax.get_lines(), "eer-threshold")
    assert (best.get_xdata()[0], eer.get_xdata()[0]) == (0.61, 0.58)
    assert best.get_linestyle() != eer.get_linestyle()
    labels = legend_labels(hist_ax)
    assert "best-accuracy threshold 0.61" in labels and "EER threshold 0.58" in labels


def text_inside_figure(fig, text):
    box = text.get_window_extent(fig.canvas.get_renderer())
    return box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y0 >= 0 and box.y1 <= fig.bbox.height


@needs_matplotlib
@settings(max_examples=10, deadline=None)
@given(words=st.lists(st.text(alphabet="abcdefghij/._ ", min_size=1, max_size=40), min_size=1, max_size=30))
def test_titles_fit_within_the_figure(words):
    title = "/very/long/folder/name/" + " ".join(words)
    fig = inspection_figure(np.linspace(0.5, 2.0, 40), title=title)
    fig.canvas.draw()  # the constrained layout places the title
    assert text_inside_figure(fig, fig._suptitle)
    assert len(fig._suptitle.get_text().split("\n")) <= 3
    assert "/very/long/folder" not in fig._suptitle.get_text()


@needs_matplotlib
def test_long_title_and_footnote_fit_the_evaluation_figure(pairs):
    base = pairs["curves"][0]
    curves = [RocCurve(f"/some/where/deep/embeddings_of_model_number_{k}.npy cosine (L2)", base.fpr, base.tpr,
                       base.eer, 0.9 - k / 100) for k in range(30)]
    title = "all 19,900 pairs of 200 labelled rows of " + "/a/b/" + "x" * 300 + ".npy"
    fig = cosine_figure(pairs, curves=curves, title=title)
    fig.canvas.draw()
    (note,) = [t for t in fig.texts if t.get_gid() == "left-out"]
    for text in (fig._suptitle, note):
        assert text_inside_figure(fig, text)
    assert fig._suptitle.get_text().startswith("all 19,900 pairs of 200 labelled rows of")


@needs_matplotlib
def test_pca_axes_show_each_components_share_of_variance(digits, projection):
    from sklearn.decomposition import PCA

    x, y = digits
    shares = PCA(n_components=2).fit(x).explained_variance_ratio_
    fig = inspection_figure(np.linalg.norm(x, axis=1), projection, y, variance_shares=shares)
    ax = fig.axes[1]
    assert ax.get_xlabel() == f"PC1 ({shares[0]:.1%} of variance)"
    assert ax.get_ylabel() == f"PC2 ({shares[1]:.1%} of variance)"


@pytest.mark.parametrize("text, expected", [
    ("all pairs of /tmp/x/emb.npy by classes", "all pairs of emb.npy by classes"),
    ("a/b.npy:c/d.npy cosine", "b.npy:d.npy cosine"),
    ("emb.npy (int8) euclidean", "emb.npy (int8) euclidean"),
    ("../labels.txt", "labels.txt"),
])
def test_short_paths_show_file_names(text, expected):
    assert short_paths(text) == expected


@needs_matplotlib
def test_figure_svg_is_inline_markup_with_salted_ids(digits):
    x, _ = digits
    norms = np.linalg.norm(x, axis=1)
    one, two = (figure_svg(lambda: inspection_figure(norms, title="t"), salt=s) for s in ("a", "b"))
    assert one.startswith("<svg") and one.rstrip().endswith("</svg>")
    assert "<!DOCTYPE" not in one and "<?xml" not in one
    assert "<text" in one  # text kept as text, in the page's fonts
    import re

    clips = lambda svg: set(re.findall(r'clipPath id="([^"]+)"', svg))  # noqa: E731
    assert clips(one) and not clips(one) & clips(two)


@needs_matplotlib
@pytest.mark.parametrize("k", [1, 10, 30])
def test_overlap_figure_counts_items_per_neighbours_shared(k):
    rng = np.random.default_rng(k)
    shared = rng.integers(0, k + 1, size=300)
    fig = overlap_figure(shared, k, title="/x/a.npy -> /y/b.npy")
    ax = fig.axes[0]
    bars = by_gid(ax.patches, "shared")
    assert [b.get_height() for b in bars] == [int((shared == c).sum()) for c in range(k + 1)]
    assert [b.get_x() + b.get_width() / 2 for b in bars] == pytest.approx(np.arange(k + 1))
    (mean,) = by_gid(ax.get_lines(), "mean")
    assert mean.get_xdata()[0] == pytest.approx(shared.mean())
    assert legend_labels(ax) == [f"mean {shared.mean():.2f} of {k} shared"]
    assert fig._suptitle.get_text() == "a.npy -> b.npy"
    with pytest.raises(ValueError, match=f"0..{k}"):
        overlap_figure([k + 1], k)


@needs_matplotlib
def test_dollar_signs_in_names_are_shown_as_written_not_as_math(tmp_path, digits, projection):
    # Mathtext would read "$\bad$" as a formula and fail at draw time; file and class names are text.
    x, y = digits
    curve = RocCurve("run$\\bad$.npy cosine", np.r_[0.0, 0.5, 1.0], np.r_[0.0, 0.7, 1.0], 0.3, 0.6)
    fig = evaluation_figure([curve], [0.9], [0.1], 0.5, True, title="$\\bad$ pairs", score_label="$x$")
    fig.canvas.draw()
    assert legend_labels(fig.axes[0])[0].startswith("run\\$\\bad\\$.npy cosine")
    assert not fig._suptitle._preprocess_math(fig._suptitle.get_text())[1]  # not math
    classes = np.where(y == 3, "$\\x$", y.astype(str))
    plot_inspection(tmp_path / "dollars.png", np.linalg.norm(x, axis=1), projection, classes, title="$\\y$")
    assert (tmp_path / "dollars.png").read_bytes()[:8] == PNG_SIGNATURE
