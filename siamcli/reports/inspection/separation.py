"""How well labelled classes separate among the sampled rows, under one metric."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...engine import prepare
from ...io import EmbeddingSet
from ...results import Result, brief, plain
from .scan import PAIR_BLOCK_ROWS

@dataclass
class ClassRow:
    """One class: its size, and how close its sampled rows are to each other and to other classes."""

    label: object
    count: int  # rows with this label in the whole set
    sampled: int  # of them in the pairwise sample
    intra_mean: float | None  # mean score between two of its sampled rows
    inter_mean: float | None  # mean score between one of its sampled rows and a sampled row of another class
    nearest_class: object | None  # the other class whose sampled rows are closest on average
    nearest_mean: float | None  # the mean score to that class
    separated: bool | None  # intra_mean is closer than nearest_mean


@dataclass
class ClassSeparation(Result):
    """Same-class against different-class scores over the sampled rows, under one metric.

    separation is the decidability index d' (Daugman) signed so that positive means same-class
    pairs are closer: (mean_inter - mean_intra) / sqrt((var_intra + var_inter) / 2) for a
    distance, the negative of that for a similarity. separated_fraction: of the classes with at
    least two sampled rows, the fraction whose rows are closer to each other on average than to
    the rows of their nearest other class.
    """

    metric: str
    higher_is_better: bool
    n_classes: int
    sampled_rows: int
    intra_pairs: int
    inter_pairs: int
    intra_mean: float | None
    intra_std: float | None
    inter_mean: float | None
    inter_std: float | None
    separation: float | None
    separated_fraction: float | None
    rows: list[ClassRow]

    def repr_parts(self) -> list[str]:
        return [repr(self.metric), f"{self.n_classes} classes", f"separation={brief(self.separation)}",
                f"separated_fraction={brief(self.separated_fraction)}"]

    def record(self) -> dict:
        out = {name: getattr(self, name) for name in (
            "metric", "higher_is_better", "n_classes", "sampled_rows", "intra_pairs", "inter_pairs",
            "intra_mean", "intra_std", "inter_mean", "inter_std", "separation", "separated_fraction")}
        out["per_class"] = [
            {"class": r.label, "count": r.count, "sampled": r.sampled, "intra_mean": r.intra_mean,
             "inter_mean": r.inter_mean, "nearest_class": r.nearest_class, "nearest_mean": r.nearest_mean,
             "separated": r.separated}
            for r in self.rows
        ]
        return plain(out)


def class_separation(rows: np.ndarray, labels: np.ndarray, label_values: np.ndarray, counts: np.ndarray,
                     metric: str, source: str) -> ClassSeparation:
    """Same-class and different-class scores among the sampled rows (codes index label_values)."""
    order = np.argsort(labels, kind="stable")
    codes = labels[order]
    comp = prepare(EmbeddingSet(rows[order], None, f"{source} (sample)"), metric=metric, zero_vector="nan")
    higher = comp.metric.higher_is_better
    sums, per_class = _pair_sums(comp, codes, higher)
    intra_mean, intra_std = _moments(*sums["intra"])
    inter_mean, inter_std = _moments(*sums["inter"])
    separation = None
    if intra_mean is not None and inter_mean is not None:
        pooled = math.sqrt((intra_std**2 + inter_std**2) / 2.0)
        gap = (inter_mean - intra_mean) * (-1.0 if higher else 1.0)
        separation = gap / pooled if pooled > 0 else (0.0 if gap == 0 else math.copysign(math.inf, gap))
    rows_out, judged, separated = _class_rows(per_class, labels, label_values, counts, higher)
    return ClassSeparation(
        comp.metric.name, higher, len(label_values), len(codes), sums["intra"][2] // 2, sums["inter"][2] // 2,
        intra_mean, intra_std, inter_mean, inter_std, separation,
        separated / judged if judged else None, rows_out,
    )


def _pair_sums(comp, codes: np.ndarray, higher: bool) -> tuple[dict, dict]:
    """One pass over the sample's score blocks (rows sorted by class code): sum, sum of squares and
    count of the same-class and of the different-class scores, and each class's figures (_nearest)."""
    present, starts = np.unique(codes, return_index=True)  # classes in the sample, where each begins
    position = np.searchsorted(present, codes)  # code -> column of the class sums
    k = len(codes)
    per_class: dict[int, tuple[float | None, float | None, int | None, float | None]] = {}
    sums = {"intra": [0.0, 0.0, 0], "inter": [0.0, 0.0, 0]}  # sum, sum of squares, ordered pairs

    def finish(code_index, class_sums, class_counts) -> None:
        per_class[int(present[code_index])] = _nearest(code_index, class_sums, class_counts, present, higher)

    carry = None  # (code index, sums, counts) of the class the previous block ended in
    for i0 in range(0, k, PAIR_BLOCK_ROWS):
        i1 = min(k, i0 + PAIR_BLOCK_ROWS)
        block = np.array(comp.block(i0, i1, 0, k), dtype=np.float64)
        block[np.arange(i1 - i0), np.arange(i0, i1)] = np.nan  # a row against itself is no pair
        valid = ~np.isnan(block)
        values = np.where(valid, block, 0.0)
        same = codes[i0:i1, None] == codes[None, :]
        for name, mask in (("intra", same & valid), ("inter", ~same & valid)):
            picked = values[mask]
            sums[name][0] += float(picked.sum())
            sums[name][1] += float((picked**2).sum())
            sums[name][2] += int(mask.sum())
        row_sums = np.add.reduceat(values, starts, axis=1)
        row_counts = np.add.reduceat(valid.astype(np.int64), starts, axis=1)
        local = position[i0:i1]
        local_starts = np.flatnonzero(np.r_[True, local[1:] != local[:-1]])
        class_sums = np.add.reduceat(row_sums, local_starts, axis=0)
        class_counts = np.add.reduceat(row_counts, local_starts, axis=0)
        local_codes = local[local_starts]
        if carry is not None:
            if carry[0] == local_codes[0]:
                class_sums[0] += carry[1]
                class_counts[0] += carry[2]
            else:
                finish(*carry)
        for j in range(len(local_codes) - 1):
            finish(local_codes[j], class_sums[j], class_counts[j])
        carry = (local_codes[-1], class_sums[-1], class_counts[-1])
    if carry is not None:
        finish(*carry)
    return sums, per_class


def _nearest(code_index: int, class_sums: np.ndarray, class_counts: np.ndarray, present: np.ndarray, higher: bool):
    """(mean score within the class, to every other class, the nearest other class's code, mean to it)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = class_sums / class_counts
    intra = means[code_index] if class_counts[code_index] else None
    others = np.ones(len(present), dtype=bool)
    others[code_index] = False
    other_count = class_counts[others].sum()
    inter = class_sums[others].sum() / other_count if other_count else None
    candidates = np.flatnonzero(others & (class_counts > 0))
    nearest = nearest_mean = None
    if len(candidates):
        pick = candidates[np.argmax(means[candidates]) if higher else np.argmin(means[candidates])]
        nearest, nearest_mean = int(present[pick]), float(means[pick])
    return None if intra is None else float(intra), None if inter is None else float(inter), nearest, nearest_mean


def _moments(total: float, squares: float, count: int) -> tuple[float | None, float | None]:
    """Mean and population standard deviation from a sum, a sum of squares and a count."""
    if not count:
        return None, None
    mean = total / count
    return mean, math.sqrt(max(squares / count - mean**2, 0.0))


def _class_rows(per_class: dict, labels: np.ndarray, label_values: np.ndarray, counts: np.ndarray,
                higher: bool) -> tuple[list[ClassRow], int, int]:
    """One ClassRow per label, and how many classes were judged and found separated."""
    sampled = np.bincount(labels, minlength=len(label_values))
    rows_out = []
    judged = separated = 0
    for code, label in enumerate(label_values):
        intra, inter, nearest, nearest_mean = per_class.get(code, (None, None, None, None))
        is_separated = None
        if intra is not None and nearest_mean is not None:
            is_separated = bool(intra > nearest_mean if higher else intra < nearest_mean)
            judged += 1
            separated += is_separated
        rows_out.append(ClassRow(plain(label), int(counts[code]), int(sampled[code]), intra, inter,
                                 None if nearest is None else plain(label_values[nearest]), nearest_mean,
                                 is_separated))
    return rows_out, judged, separated
