"""Each report as an HTML page (`siamcli.output.html` draws it): its findings in words, its tables, its figures.

`PAGES` maps a result type to the function that says what its page holds: a title, the findings
and warnings in words, and the figures (caption, a function that builds the matplotlib figure).
The tables are the report's own `table_layout`, as the terminal shows them. A result type not in
`PAGES` gets `report_parts`: the `summary` (or `findings`), `warnings` and `notes` of its record,
and no figure.
Adding a command's report is one function and one entry.

Figures need matplotlib (the `plot` extra); without it the page still holds the findings and the
tables, and says how to get the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..output.html import Page, render_page
from . import plots
from .diff import SpaceDiff
from .diff.words import summary_lines as diff_summary_lines
from .drift import DriftReport
from .evaluation import Evaluation
from .evaluation.layout import kept_lines, verdicts, short_names  # the words the evaluation's table opens with
from .inspection import InspectionReport

#: Decimals in the page's tables (the CLI's default --precision).
PAGE_PRECISION = 4
#: What a page says in place of its figures when matplotlib is missing.
NO_MATPLOTLIB = "The figures need matplotlib: pip install 'siamcli[plot]'"
#: Suffixes an HTML report's file name may end in.
REPORT_SUFFIXES = (".html", ".htm")


@dataclass
class PageParts:
    """What a report's page holds besides its tables: figures are (caption, build) pairs, `build()`
    returning a matplotlib Figure (called only when matplotlib is there)."""

    title: str
    findings: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: list[tuple[str, Callable]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def evaluation_plot(result: Evaluation) -> dict:
    """The arguments of `plots.evaluation_figure` (and `plot_evaluation`) for an evaluation: every
    (model, metric) as a ROC curve, named by file name and metric when there are several models
    or copies; the best one's score histograms with its best-accuracy and EER thresholds."""
    several = len(result.models) > 1 or result.has_variants  # copies of one model: name each curve
    short = short_names(list(dict.fromkeys(r.model_label for r in result.results)))

    def name(r) -> str:
        return f"{short[r.model_label]} {r.name}" if several else r.name

    curves = [plots.RocCurve(name(r), r.verification.roc.fpr, r.verification.roc.tpr, r.verification.eer,
                             r.verification.auc) for r in result.results]
    best = result.best
    return dict(curves=curves, positive_scores=best.scores[best.same], negative_scores=best.scores[~best.same],
                threshold=best.verification.best_accuracy_threshold,
                higher_is_better=best.verification.higher_is_better, title=result.pairs, score_label=name(best),
                threshold_name="best-accuracy threshold", eer_threshold=best.verification.eer_threshold)


def evaluation_parts(result: Evaluation) -> PageParts:
    """Which model and metric is best and how sure that is, then what else the evaluation found."""
    from ..output.text import figure

    best, record = result.best, next(iter(result.records()))
    num = lambda x: figure(x, PAGE_PRECISION)  # noqa: E731
    sign = ">=" if best.verification.higher_is_better else "<="
    ci = best.intervals.auc if best.intervals else None
    interval = f" (95% CI {num(ci[0])} .. {num(ci[1])})" if ci else ""
    several = len(result.models) > 1 or result.has_variants
    shown = f"{short_names([r.model_label for r in result.results])[best.model_label]} {best.name}" if several \
        else best.name
    findings = [f"{result.pairs}: {record['n_positive']:,} same, {record['n_negative']:,} different"]
    if len(result.models) > 1:  # which model is best, and whether the others are really worse
        findings += verdicts(result, PAGE_PRECISION)
    else:
        findings.append(f"{shown}: AUC {num(best.verification.auc)}{interval}, EER {num(best.verification.eer)} "
                        f"(same when {best.verification.metric} {sign} {num(best.verification.eer_threshold)})")
    if result.has_variants:
        findings += kept_lines(result, PAGE_PRECISION)
    warnings = [*dict.fromkeys(w for r in result.records() for w in r["warnings"]),
                *(f"skipped {note}" for note in result.skipped)]
    args = evaluation_plot(result)
    shown_curves, left_out = plots.shown_curves(args["curves"])
    notes = [f"The curves show the {len(shown_curves)} best of {len(args['curves'])} by AUC; the table lists "
             "every one."] if left_out else []
    caption = ("ROC curves (log false positive rate), DET curves (normal-deviate axes) and the score "
               f"distributions of {args['score_label']}, with its best-accuracy and EER thresholds")
    return PageParts(f"siamcli evaluate: {plots.short_paths(result.pairs)}", [f for f in findings if f.strip()],
                     warnings, [(caption, lambda: plots.evaluation_figure(**args))], notes)


def inspection_parts(report: InspectionReport) -> PageParts:
    """The inspection's summary and warnings; the norms' histogram and the rows on two principal axes."""
    def build():
        return plots.inspection_figure(report.norms_sample, report.projection, report.projection_labels,
                                       title=report.source, variance_shares=report.projection_shares)

    caption = "Row norms" + ("" if report.projection is None else
                             "; sampled rows on the top two principal components (coloured by class when given)")
    return PageParts(f"siamcli inspect: {plots.short_paths(report.source)}", list(report.summary),
                     list(report.warnings), [(caption, build)])


def diff_parts(report: SpaceDiff) -> PageParts:
    """How much the neighbourhoods and the geometry changed, in words; the items by neighbours kept."""
    title = f"siamcli diff: {plots.short_paths(report.a.source)} against {plots.short_paths(report.b.source)}"
    caption = f"Items by how many of their {report.k} nearest neighbours in A are among those in B"
    figure = (caption, lambda: plots.overlap_figure(report.shared, report.k, title=f"{report.a.source} -> "
                                                                                   f"{report.b.source}"))
    return PageParts(title, diff_summary_lines(report.figures()), list(report.notes), [figure])


def drift_parts(report: DriftReport) -> PageParts:
    """The verdict and findings in words; both sets in one PCA projection and the permutation null."""
    from .drift.plot import drift_figure, drift_plot_args

    f = report.figures
    title = f"siamcli drift: {plots.short_paths(f['reference'])} against {plots.short_paths(f['current'])}"
    caption = ("Both sets on the pooled sample's top two principal axes, and the permutation null of "
               f"{'MMD²' if report.null_statistic == 'mmd2' else 'the nearest-neighbour statistic'} "
               "with the observed value")
    figure = (caption, lambda: drift_figure(**drift_plot_args(report)))
    return PageParts(title, [str(x) for x in f["findings"]], [], [figure])


def report_parts(result) -> PageParts:
    """Any other report: the `summary` (or `findings`), `warnings` and `notes` of its record (when it is
    one object), no figure."""
    record = result.record() if hasattr(result, "record") else {}
    as_list = lambda value: [str(v) for v in value] if isinstance(value, (list, tuple)) else []  # noqa: E731
    return PageParts(f"siamcli: {type(result).__name__}", as_list(record.get("summary") or record.get("findings")),
                     as_list(record.get("warnings")) + as_list(record.get("notes")))


#: Result type -> what its page holds besides its tables.
PAGES: dict[type, Callable[..., PageParts]] = {
    Evaluation: evaluation_parts,
    InspectionReport: inspection_parts,
    SpaceDiff: diff_parts,
    DriftReport: drift_parts,
}


def report_page(result, command: str, precision: int = PAGE_PRECISION) -> Page:
    """The page of a report (any result with a `table_layout`): findings, tables, and figures as
    inline SVG when matplotlib is there (else a note saying how to get them)."""
    parts = PAGES.get(type(result), report_parts)(result)
    from .. import __version__

    page = Page(parts.title, command, parts.findings, parts.warnings, result.table_layout(precision),
                notes=list(parts.notes), made_by=f"siamcli {__version__}")
    if parts.figures and not have_matplotlib():
        page.notes.append(NO_MATPLOTLIB)
    elif parts.figures:
        page.figures = [(caption, plots.figure_svg(build, salt=f"siamcli-figure-{i}"))
                        for i, (caption, build) in enumerate(parts.figures)]
    return page


def write_report(path, result, command: str, precision: int = PAGE_PRECISION) -> Path:
    """The report's page as one self-contained HTML file at `path`, written whole or not at all.

    Example: write_report("report.html", siamcli.inspect_embeddings(x), "siamcli inspect x.npy")
    """
    from ..files import write_bytes

    html = render_page(report_page(result, command, precision))  # drawn before the file is touched
    write_bytes(path, html.encode("utf-8"))
    return Path(path)


def have_matplotlib() -> bool:
    """Whether figures can be drawn (matplotlib, the `plot` extra, imports)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
