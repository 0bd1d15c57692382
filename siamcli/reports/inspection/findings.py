"""What the inspection's figures mean in words: the thresholds, the collapse verdict, the warnings,
the summary lines, and the table siamcli.output draws."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...results import Column, Grid, key_value_grid

if TYPE_CHECKING:
    from .report import InspectionReport

#: Quantiles reported for norms and cosines; record keys are "1%", "5%", ...
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: L2-normalised: every norm lies within this of 1.
NORMALIZED_TOLERANCE = 1e-3
#: A non-constant dimension whose variance is below this times the median dimension's variance.
LOW_VARIANCE_RATIO = 1e-6
#: Two sampled vectors with a cosine above this are near-duplicates (within about 0.8 degrees).
NEAR_DUPLICATE_COSINE = 0.9999
#: Collapse rule 1: the RMS distance between two rows is below this fraction of the RMS norm.
COLLAPSE_SPREAD = 0.05
#: Collapse rule 2: more than COLLAPSE_PAIR_FRACTION of sampled pairs have cosine > COLLAPSE_COSINE.
COLLAPSE_COSINE = 0.95
COLLAPSE_PAIR_FRACTION = 0.9
#: Warn when the effective rank is below this fraction of the rank the data could have.
LOW_RANK_FRACTION = 0.1
#: Warn that vectors are not normalised when the std of the norms exceeds this fraction of their mean.
NORM_SPREAD_WARNING = 0.05


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def collapse_verdict(n_finite, mean_sq_norm, dead, dim, spread, high_fraction) -> tuple[bool, str]:
    if n_finite < 2:
        return False, "too few finite vectors to judge collapse"
    if mean_sq_norm == 0:
        return True, "collapsed: every vector is the zero vector"
    if dead == dim:
        return True, "collapsed: every vector is the same"
    if spread is not None and spread < COLLAPSE_SPREAD:
        return True, (f"collapsed: all vectors lie near one point (the typical distance between two vectors "
                      f"is {spread:.2%} of their length)")
    if high_fraction is not None and high_fraction > COLLAPSE_PAIR_FRACTION:
        return True, (f"collapsed: {high_fraction:.0%} of sampled pairs have cosine > {COLLAPSE_COSINE} "
                      "(all vectors point almost the same way; if a shared offset causes this, "
                      "subtracting the mean vector may restore the spread)")
    parts = []
    if high_fraction is not None:
        parts.append(f"{high_fraction:.1%} of sampled pairs have cosine > {COLLAPSE_COSINE}")
    if spread is not None:
        parts.append(f"the typical distance between two vectors is {spread:.0%} of their length")
    return False, "not collapsed" + (": " + "; ".join(parts) if parts else "")


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def warning_lines(r: InspectionReport, norms: np.ndarray, n_finite: int) -> list[str]:
    out = []
    if r.nonfinite_rows:
        verb = "holds" if r.nonfinite_rows == 1 else "hold"
        out.append(f"{_plural(r.nonfinite_rows, 'row')} {verb} NaN or infinite values; every figure leaves them out")
    if r.collapsed:
        out.append(r.verdict)
    if r.zero_rows:
        out.append(f"{_plural(r.zero_rows, 'row')} {'is a zero vector' if r.zero_rows == 1 else 'are zero vectors'}: "
                   "cosine and angular scores are undefined for them")
    if r.dead_dimensions and r.dead_dimensions < r.dim:
        out.append(f"{r.dead_dimensions} of {_plural(r.dim, 'dimension')} {'is' if r.dead_dimensions == 1 else 'are'} "
                   f"constant (dead): {'it carries' if r.dead_dimensions == 1 else 'they carry'} no information")
    if r.low_variance_dimensions:
        verb = "varies" if r.low_variance_dimensions == 1 else "vary"
        out.append(f"{_plural(r.low_variance_dimensions, 'dimension')} {verb} less than {LOW_VARIANCE_RATIO:g} x "
                   "the median dimension's variance")
    if n_finite and not r.normalized and not r.collapsed:
        off = int((np.abs(norms - 1.0) > NORMALIZED_TOLERANCE).sum())
        if off <= n_finite / 2:
            out.append(f"{1 - off / n_finite:.1%} of vectors have norm 1 but {_plural(off, 'does', 'do')} not: "
                       "partly L2-normalised?")
        elif r.norm_mean and r.norm_std / r.norm_mean > NORM_SPREAD_WARNING:
            out.append(f"not L2-normalised: norms range from {_fmt(r.norm_min)} to {_fmt(r.norm_max)}; euclidean "
                       "distances mix length and direction (normalise if length carries no meaning)")
    if r.exact_duplicate_rows:
        share = r.exact_duplicate_rows / n_finite
        verb = "repeats" if r.exact_duplicate_rows == 1 else "repeat"
        out.append(f"{_plural(r.exact_duplicate_rows, 'row')} ({share:.1%}) {verb} an earlier row exactly "
                   f"({_plural(n_finite - r.exact_duplicate_rows, 'distinct vector')})")
    if r.near_duplicate_pairs and not r.collapsed:
        out.append(f"{r.near_duplicate_pairs} of {_plural(r.sampled_pairs, 'sampled pair')} "
                   f"{'is a near-duplicate' if r.near_duplicate_pairs == 1 else 'are near-duplicates'} "
                   f"(cosine > {NEAR_DUPLICATE_COSINE})")
    if r.effective_rank is not None and not r.collapsed and r.dim >= 8:
        possible = min(r.dim, r.spectrum_rows - 1)
        if r.effective_rank < max(2.0, LOW_RANK_FRACTION * possible):
            out.append(f"low effective rank: the vectors use about {r.effective_rank:.0f} of {_plural(r.dim, 'dimension')} "
                       f"(effective rank {r.effective_rank:.1f}); most directions carry little variance")
    return out


def summary_lines(r: InspectionReport, n_finite: int) -> list[str]:
    lines = [f"{_plural(r.n, 'vector')} of {_plural(r.dim, 'dimension')} ({r.dtype})", r.verdict]
    if r.effective_rank is not None:
        verb = "explains" if r.explained_variance_90 == 1 else "explain"
        lines.append(f"uses about {r.effective_rank:.0f} of {_plural(r.dim, 'dimension')} "
                     f"(effective rank {r.effective_rank:.1f}); "
                     f"{_plural(r.explained_variance_90, 'principal component')} {verb} 90% of the variance")
    if r.normalized:
        lines.append(f"L2-normalised: every norm is within {NORMALIZED_TOLERANCE:g} of 1")
    elif n_finite:
        lines.append(f"norms from {_fmt(r.norm_min)} to {_fmt(r.norm_max)} "
                     f"(mean {_fmt(r.norm_mean)}, std {_fmt(r.norm_std)})")
    if r.mean_cosine is not None:
        lines.append(f"mean cosine between two vectors {r.mean_cosine:.3f} (std {r.std_cosine:.3f}; "
                     f"{_plural(r.sampled_pairs, 'pair')} of {_plural(r.sampled_rows, 'sampled vector')})")
    lines.append(f"{_plural(r.exact_duplicate_rows, 'exact duplicate row')}" if r.exact_duplicate_rows
                 else "no exact duplicate rows")
    c = r.classes
    if c is not None and c.intra_mean is not None and c.inter_mean is not None:
        closer = (c.intra_mean > c.inter_mean) if c.higher_is_better else (c.intra_mean < c.inter_mean)
        line = (f"{_plural(c.n_classes, 'class', 'classes')}: same-class pairs are "
                f"{'closer' if closer else 'not closer'} (mean {c.metric} {_fmt(c.intra_mean)}) "
                f"than other pairs ({_fmt(c.inter_mean)})")
        if c.separation is not None:
            line += f"; separation d' {c.separation:.2f}"
        if c.separated_fraction is not None:
            line += (f"; {c.separated_fraction:.0%} of classes are closer to themselves "
                     "than to their nearest other class")
        lines.append(line)
    return lines


# ---------------------------------------------------------------- the table (siamcli.output draws it)


def _figures_grid(r: dict, precision: int) -> Grid:
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    cos = r["cosine_quantiles"] or {}
    norms = r["norm_quantiles"] or {}
    return key_value_grid([
        ("vectors x dimensions", f"{r['n']:,} x {r['dim']:,} ({r['dtype']})"),
        ("non-finite / zero rows", f"{r['nonfinite_rows']:,} / {r['zero_rows']:,}"),
        ("norm min / median / max", f"{num(r['norm_min'])} / {num(norms.get('50%'))} / {num(r['norm_max'])}"),
        ("L2-normalised", "yes" if r["normalized"] else "no"),
        ("dead / low-variance dimensions", f"{r['dead_dimensions']} / {r['low_variance_dimensions']}"),
        ("effective rank", num(r["effective_rank"])),
        ("participation ratio", num(r["participation_ratio"])),
        ("components for 90% of variance", str(r["explained_variance_90"])),
        ("mean cosine (std)", f"{num(r['mean_cosine'])} ({num(r['std_cosine'])})"),
        ("cosine 5% / 50% / 95%", f"{num(cos.get('5%'))} / {num(cos.get('50%'))} / {num(cos.get('95%'))}"),
        ("pairs with cosine > 0.95", num(r["high_cosine_fraction"])),
        ("spread (RMS distance / RMS norm)", num(r["spread_ratio"])),
        ("exact duplicate rows", f"{r['exact_duplicate_rows']:,}"),
        ("near-duplicate pairs (sampled)", f"{r['near_duplicate_pairs']:,}"),
        ("sampled rows / pairs", f"{r['sampled_rows']:,} / {r['sampled_pairs']:,}"),
        ("collapsed", "YES" if r["collapsed"] else "no"),
    ])


def _classes_blocks(classes: dict, precision: int) -> list:
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    said = (f"classes ({classes['metric']}; {'higher' if classes['higher_is_better'] else 'lower'} is closer): "
            f"same-class mean {num(classes['intra_mean'])}, other-class mean {num(classes['inter_mean'])}, "
            f"separation d' {num(classes['separation'])}")
    grid = Grid([Column(name, justify=justify) for name, justify in (
        ("class", "left"), ("count", "right"), ("same-class", "right"), ("other-class", "right"),
        ("nearest class", "left"), ("to nearest", "right"), ("separated", "left"))])
    for row in classes["per_class"]:
        grid.rows.append([str(row["class"]), f"{row['count']:,}", num(row["intra_mean"]), num(row["inter_mean"]),
                          str(row["nearest_class"]), num(row["nearest_mean"]), "yes" if row["separated"] else "NO"])
    return ["", said, grid]


def inspection_layout(r: dict, precision: int) -> list:
    blocks = [f"{r['source']}:", *(f"  {line}" for line in r["summary"])]
    if r["warnings"]:
        blocks += ["findings:", *(f"  ! {line}" for line in r["warnings"])]
    blocks += ["", _figures_grid(r, precision)]
    if r["classes"] is not None:
        blocks += _classes_blocks(r["classes"], precision)
    return blocks
