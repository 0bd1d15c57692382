"""What a drift report's figures mean in words, and the table siamcli.output draws."""

from __future__ import annotations

from ...results import key_value_grid

#: Each test's name in words.
TEST_NAMES = {"mmd": "MMD² permutation test", "knn": "nearest-neighbour test", "classifier": "domain classifier"}
#: Classifier AUC from which the sets are "easy to tell apart".
EASY_AUC = 0.75


def _p(p: float) -> str:
    return f"p = {p:.3g}"


def verdict(f: dict) -> str:
    """One line: drift or not, by the chosen test at alpha."""
    how = f"{_p(f['p_value'])} {'<' if f['drift'] else '>='} alpha {f['alpha']:g}"
    return f"{'drift' if f['drift'] else 'no drift'} detected by the {TEST_NAMES[f['test']]} ({how})"


def _test_lines(f: dict) -> list[str]:
    alpha = f["alpha"]
    said = lambda p: "differ" if p < alpha else "do not differ"  # noqa: E731
    auc = f["classifier_auc"]
    ease = ("easy to tell apart" if auc >= EASY_AUC else "barely distinguishable" if auc < 0.6 else "partly separable")
    return [
        f"MMD²: {f['mmd2']:.3g}, bandwidth {f['bandwidth']:.3g}: the sets {said(f['mmd_p_value'])} "
        f"({_p(f['mmd_p_value'])})",
        f"k-NN: {f['knn_statistic']:.1%} of the {f['neighbors']} nearest rows ({f['metric']}) share the row's set; "
        f"{f['knn_null_mean']:.1%} by chance ({_p(f['knn_p_value'])})",
        f"domain classifier: ROC AUC {auc:.3f} (0.5 = indistinguishable), {ease} ({_p(f['classifier_p_value'])})",
    ]


def _shift_lines(f: dict) -> list[str]:
    share = f["centroid_distance_share"]
    lines = []
    if share is not None:
        # two random samples of one distribution: E|mean_a - mean_b|² = spread² (1/n + 1/m)
        noise = (1 / f["n_reference"] + 1 / f["n_current"]) ** 0.5
        lines.append(f"centroid moved {f['centroid_distance']:.3g} = {share:.1%} of the reference's RMS spread, "
                     f"{share / noise:.1f}x the typical sampling gap")
    lines.append(f"{f['drifted_dimensions']:,} of {f['dim']:,} dimensions ({f['drifted_dimensions_share']:.0%}) "
                 f"changed distribution (KS, Benjamini-Hochberg at {f['alpha']:g})")
    mean_ref, mean_cur = f["norm_mean_reference"], f["norm_mean_current"]
    lines.append(f"norms: mean {mean_ref:.3g} -> {mean_cur:.3g} (KS {f['norm_ks']:.3f}, {_p(f['norm_ks_p_value'])})")
    return lines


def _health_line(f: dict) -> str | None:
    h = f["health"]
    parts = []
    for name, words_ in (("effective_rank", "effective rank"), ("mean_cosine", "mean cosine")):
        a, b = h[name]["reference"], h[name]["current"]
        if a is not None and b is not None:
            parts.append(f"{words_} {a:.3g} -> {b:.3g}")
    dup = h["exact_duplicate_rows"]
    parts.append(f"duplicate rows {dup['reference']:,} -> {dup['current']:,}")
    return "health: " + ", ".join(parts)


def sample_line(f: dict) -> str:
    if f["sampled_reference"] == f["n_reference"] and f["sampled_current"] == f["n_current"]:
        return f"tests on every row; {f['permutations']:,} permutations (seed {f['seed']})"
    return (f"tests on {f['sampled_reference']:,} of {f['n_reference']:,} reference rows and {f['sampled_current']:,} "
            f"of {f['n_current']:,} current rows (sample {f['sample']:,}, seed {f['seed']}); "
            f"{f['permutations']:,} permutations")


def resolution_line(f: dict) -> str | None:
    """A permutation test cannot give p below 1/(permutations + 1): say so when that is not below alpha."""
    smallest = 1 / (f["permutations"] + 1)
    if f["test"] == "classifier" or smallest < f["alpha"]:
        return None
    return (f"with {f['permutations']:,} permutations the smallest possible p-value is 1/{f['permutations'] + 1:,} "
            f"= {smallest:.3g}, not below alpha {f['alpha']:g}: the {TEST_NAMES[f['test']]} cannot declare drift; "
            f"use at least {int(1 / f['alpha']):,} permutations")


def median_line(f: dict) -> str | None:
    """When the pooled rows' distances did not fit the memory budget, the median came from a subset."""
    pooled = f["sampled_reference"] + f["sampled_current"]
    if f["bandwidth_from"] != "median" or f["median_rows"] >= pooled:
        return None
    return (f"the bandwidth is the median distance between {f['median_rows']:,} of the {pooled:,} pooled rows "
            "(every pair of them would not fit the memory budget)")


def findings(f: dict) -> list[str]:
    """The verdict, then each test, the shifts and the health change, in words."""
    lines = [verdict(f), resolution_line(f), *_test_lines(f), *_shift_lines(f), _health_line(f), sample_line(f),
             median_line(f)]
    return [line for line in lines if line]


def _figures_grid(f: dict, precision: int):
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    top = ", ".join(str(d["dimension"]) for d in f["classifier_top_dimensions"])
    rows = [
        ("rows (reference / current) x dimensions", f"{f['n_reference']:,} / {f['n_current']:,} x {f['dim']:,}"),
        ("rows tested (sample)", f"{f['sampled_reference']:,} / {f['sampled_current']:,} ({f['sample']:,})"),
        ("MMD² (p-value)", f"{num(f['mmd2'])} ({num(f['mmd_p_value'])})"),
        (f"RBF bandwidth ({f['bandwidth_from']})", num(f["bandwidth"])),
        (f"kNN same-set share, k={f['neighbors']} (p-value)", f"{num(f['knn_statistic'])} ({num(f['knn_p_value'])})"),
        ("classifier ROC AUC (p-value)", f"{num(f['classifier_auc'])} ({num(f['classifier_p_value'])})"),
        ("classifier's top dimensions", top),
        ("centroid distance (share of spread)", f"{num(f['centroid_distance'])} ({num(f['centroid_distance_share'])})"),
        ("drifted dimensions (share)", f"{f['drifted_dimensions']:,} ({num(f['drifted_dimensions_share'])})"),
        ("norm KS (p-value)", f"{num(f['norm_ks'])} ({num(f['norm_ks_p_value'])})"),
        ("test, alpha, permutations, seed", f"{f['test']}, {f['alpha']:g}, {f['permutations']:,}, {f['seed']}"),
    ]
    return key_value_grid(rows)


def layout(f: dict, precision: int) -> list:
    """Plain language first (the verdict, then the findings), then the figures."""
    first, *rest = f["findings"]
    return [first, f"  reference: {f['reference']}", f"  current:   {f['current']}",
            *(f"  {line}" for line in rest), "", _figures_grid(f, precision)]
