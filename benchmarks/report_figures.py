"""Time and size of evaluate's figures (ROC + DET + histograms) and of a whole --report page, beside scikit-learn.

    python benchmarks/report_figures.py [--quick]

Data: binormal scores (positives N(2, 1), negatives N(0, 1)), 1 positive to 10 negatives, and
their full ROC (every threshold: scikit-learn's roc_curve with drop_intermediate=False), six
curves of slightly different separation. For each size it prints, median of --repeat runs:

- siamcli PNG: plots.plot_evaluation, the three-panel figure as a .png (what --plot writes);
- siamcli SVG: plots.figure_svg of the same figure (what --report inlines), and its size;
- sklearn PNG: RocCurveDisplay and DetCurveDisplay of the same six curves drawn on a two-panel
  Agg figure and saved as .png: a peer drawing the same curves (no histograms, linear FPR axis);
- page: the HTML page of a real `evaluate` (pages.report_page + render_page; cosine and euclidean)
  of sqrt(12 N) items in 10 classes, a balanced sample of N pairs, and its size;

and the ratio siamcli PNG / sklearn PNG.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamcli.reports import plots  # noqa: E402


def curves_of(n_pairs: int, seed: int = 0):
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(seed)
    n_pos = n_pairs // 11
    same = np.r_[np.ones(n_pos, bool), np.zeros(n_pairs - n_pos, bool)]
    curves, scores = [], None
    for k in range(6):
        scores = np.r_[rng.normal(2.0 + 0.1 * k, 1.0, n_pos), rng.normal(0.0, 1.0, n_pairs - n_pos)]
        fpr, tpr, _ = roc_curve(same, scores, drop_intermediate=False)
        curves.append(plots.RocCurve(f"model{k}.npy cosine", fpr, tpr, None, roc_auc_score(same, scores)))
    return curves, scores[same], scores[~same]


def sklearn_png(curves) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import DetCurveDisplay, RocCurveDisplay

    fig = Figure(figsize=(11, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    roc_ax, det_ax = fig.subplots(1, 2)
    for c in curves:
        RocCurveDisplay(fpr=c.fpr, tpr=c.tpr, roc_auc=c.auc, name=c.name).plot(ax=roc_ax)
        DetCurveDisplay(fpr=c.fpr, fnr=1 - c.tpr, estimator_name=c.name).plot(ax=det_ax)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def page_of(n_pairs: int):
    import siamcli
    from siamcli.output.html import render_page
    from siamcli.reports import pages

    rng = np.random.default_rng(1)
    n = max(20, int(np.sqrt(12 * n_pairs)))  # enough same-class pairs for a balanced sample
    classes = rng.integers(0, 10, n)
    x = rng.normal(size=(10, 32))[classes] + 1.5 * rng.normal(size=(n, 32))
    result = siamcli.evaluate(x, classes=classes, sample=n_pairs, bootstrap=0, metric="cosine,euclidean")
    return result, lambda: render_page(pages.report_page(result, "siamcli evaluate x.npy --report r.html"))


def median_seconds(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [11_000, 110_000] if args.quick else [11_000, 110_000, 1_100_000]
    import matplotlib
    import sklearn

    print(f"numpy {np.__version__}, matplotlib {matplotlib.__version__}, scikit-learn {sklearn.__version__}; "
          f"median of {args.repeat}")
    print(f"{'pairs':>10} {'ROC points':>10} {'siamcli PNG s':>13} {'siamcli SVG s':>13} {'SVG KB':>7} "
          f"{'sklearn PNG s':>13} {'siamcli/sklearn':>15} {'page s':>7} {'page KB':>8}")
    for n_pairs in sizes:
        curves, pos, neg = curves_of(n_pairs)
        target = Path("/tmp") / "siamcli-bench-roc.png"
        png, _ = median_seconds(lambda: plots.plot_evaluation(target, curves, pos, neg, 1.0, True,
                                                              title="bench"), args.repeat)
        svg_s, svg = median_seconds(lambda: plots.figure_svg(
            lambda: plots.evaluation_figure(curves, pos, neg, 1.0, True, title="bench")), args.repeat)
        peer, _ = median_seconds(lambda: sklearn_png(curves), args.repeat)
        _, make_page = page_of(n_pairs)
        page_s, page = median_seconds(make_page, args.repeat)
        print(f"{n_pairs:>10,} {len(curves[0].fpr):>10,} {png:>13.2f} {svg_s:>13.2f} {len(svg) / 1e3:>7.0f} "
              f"{peer:>13.2f} {png / peer:>15.2f} {page_s:>7.2f} {len(page) / 1e3:>8.0f}")
        target.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
