"""What the figures of two spaces mean in words, and the table siamcli.output draws."""

from __future__ import annotations

from ...errors import counted
from ...results import Column, Grid, key_value_grid
from .neighbours import JACCARD

#: The overlap's name in tables.
OVERLAP = JACCARD.capitalize()

#: Mean share of neighbours kept above which neighbourhoods "barely changed", and below which "a lot".
BARELY_CHANGED = 0.9
CHANGED_A_LOT = 0.5
#: CKA (and Spearman's rho) from which two spaces "agree closely", and below which they "differ".
CLOSE = 0.9
DIFFERENT = 0.5
#: A relative Procrustes residual below this: "B is nearly a rotation of A".
NEARLY_ROTATION = 0.05
#: Width of the bars of the shared-neighbours histogram in a table.
BAR_WIDTH = 40


def _items(count: int) -> str:
    return f"{count:,} item{'' if count == 1 else 's'}"


def neighbourhood_line(f: dict) -> str:
    share, k = f["shared_mean"], f["k"]
    head = ("neighbourhoods barely changed" if share >= BARELY_CHANGED
            else "neighbourhoods changed a lot" if share < CHANGED_A_LOT else "neighbourhoods changed in part")
    if k == 1:
        return f"{head}: the nearest neighbour is the same in both spaces for {share:.0%} of items"
    return f"{head}: on average {share:.0%} of the {k} nearest neighbours are shared"


def extremes_line(f: dict) -> str:
    counts = {row["shared"]: row["items"] for row in f["shared_histogram"]}
    none, every = counts.get(0, 0), counts.get(f["k"], 0)
    return (f"{_items(none)} ({none / f['n']:.0%}) share none of their neighbours; "
            f"{_items(every)} ({every / f['n']:.0%}) keep all {f['k']}")


def agreement_lines(f: dict) -> list[str]:
    """CKA's verdict, then Procrustes' (when the dimensions match): one line when B is nearly a rotation."""
    cka, residual, scaled = f["cka"], f["procrustes_residual"], f["procrustes_scaled_residual"]
    name = "debiased CKA" if f["cka_debiased"] else "linear CKA"
    said = "" if cka is None else f", {name} {cka:.3f}"
    if residual is not None and residual < NEARLY_ROTATION:
        return [f"the two spaces agree closely: B is nearly a rotation of A (residual {residual:.2%}{said})"]
    lines = []
    if cka is not None:
        lines.append(("the two spaces agree closely in global geometry" if cka >= CLOSE
                      else "the two spaces differ in global geometry" if cka < DIFFERENT
                      else "the two spaces agree in part in global geometry") + f" ({name} {cka:.3f})")
    if residual is not None:
        lines.append(f"B is not a rotation of A (Procrustes residual {residual:.0%} of B's size)"
                     if scaled >= NEARLY_ROTATION else
                     f"B is nearly a scaled rotation of A (residual {residual:.0%}; {scaled:.2%} with the best scale)")
    return lines


def similarity_line(f: dict) -> str | None:
    rho = f["rsa_spearman"]
    if rho is None:
        return None
    head = ("pairs are ranked nearly alike in both spaces" if rho >= CLOSE
            else "pairs are ranked differently in the two spaces" if rho < DIFFERENT
            else "pairs are ranked partly alike in both spaces")
    how = counted(f["rsa_pairs"], "sampled pair") if f["rsa_sampled"] else f"all {counted(f['rsa_pairs'], 'pair')}"
    return f"{head} (Spearman's rho {rho:.3f} over {how})"


def summary_lines(f: dict) -> list[str]:
    """The findings in words, most telling first."""
    lines = [neighbourhood_line(f), extremes_line(f), *agreement_lines(f), similarity_line(f)]
    return [line for line in lines if line]


# ---------------------------------------------------------------- the table (siamcli.output draws it)


def _figures_grid(f: dict, precision: int) -> Grid:
    from ...output.text import figure

    num = lambda x: figure(x, precision)  # noqa: E731
    q = f["jaccard_quantiles"]
    rows = [
        ("items x dimensions", f"{f['n']:,} x {f['dim_a']:,} (A), {f['dim_b']:,} (B)"),
        ("metric (A / B)", f"{f['metric']} / {f['metric_b']}"),
        (f"{OVERLAP} of {counted(f['k'], 'neighbour')}: mean / median", f"{num(f['jaccard_mean'])} / {num(f['jaccard_median'])}"),
        (f"{OVERLAP} 10% / 25% / 75% / 90%", " / ".join(num(q[key]) for key in ("10%", "25%", "75%", "90%"))),
        ("neighbours shared (mean share)", num(f["shared_mean"])),
        ("debiased linear CKA" if f["cka_debiased"] else "linear CKA", num(f["cka"])),
        ("Spearman's rho of pair closeness", num(f["rsa_spearman"])),
        ("pairs (sampled, seed)" if f["rsa_sampled"] else "pairs (all)",
         f"{f['rsa_pairs']:,}" + (f" (seed {f['seed']})" if f["rsa_sampled"] else "")),
        ("Procrustes residual (with best scale)", "- (dimensions differ)" if f["procrustes_residual"] is None
         else f"{num(f['procrustes_residual'])} ({num(f['procrustes_scaled_residual'])})"),
    ]
    return key_value_grid(rows)


def _histogram_grid(f: dict, precision: int) -> Grid:
    from ...output.text import figure

    rows = f["shared_histogram"]
    top = max(row["items"] for row in rows) or 1
    grid = Grid([Column("shared", justify="right"), Column(OVERLAP, justify="right"),
                 Column("items", justify="right"), Column("")])
    for row in rows:
        bar = "#" * round(BAR_WIDTH * row["items"] / top)
        grid.rows.append([f"{row['shared']}/{f['k']}", figure(row[JACCARD], precision), f"{row['items']:,}", bar])
    return grid


def _items_grid(items: list[dict], fields: list[str], precision: int) -> Grid:
    """The items, their --show text, Jaccard and neighbours (by their first --show text, else by id); the id
    column only when ids are not the row numbers."""
    from ...output.text import figure

    named = any(item["id"] != str(item["index"]) for item in items)
    columns = [Column("index", justify="right"), *([Column("id", overflow="fold")] if named else [])]
    columns += [Column(name, overflow="fold") for name in fields]
    columns += [Column(OVERLAP, justify="right"), Column("neighbours in A", overflow="fold"),
                Column("neighbours in B", overflow="fold")]
    grid = Grid(columns)
    for item in items:
        key = f"_{fields[0]}" if fields else ""
        grid.rows.append([str(item["index"]), *([item["id"]] if named else []), *(str(item[name]) for name in fields),
                          figure(item[JACCARD], precision), ", ".join(map(str, item[f"a_neighbors{key}"])),
                          ", ".join(map(str, item[f"b_neighbors{key}"]))])
    return grid


def layout(f: dict, items: list[dict], notes: list[str], precision: int) -> list:
    """Plain language first, then the figures, the histogram of neighbours shared, and the items."""
    fields = [name for name in (items[0] if items else {}) if f"a_neighbors_{name}" in items[0]]
    blocks = [f"{_items(f['n'])} matched by {f['matched_by']}:",
              f"  A: {f['a']} ({counted(f['dim_a'], 'dimension')}, {f['metric']})",
              f"  B: {f['b']} ({counted(f['dim_b'], 'dimension')}, {f['metric_b']})",
              *(f"  {line}" for line in summary_lines(f))]
    if notes:
        blocks += ["notes:", *(f"  ! {line}" for line in notes)]
    blocks += ["", _figures_grid(f, precision), "", f"neighbours shared of the {f['k']} nearest, per item:",
               _histogram_grid(f, precision)]
    if items:
        blocks += ["", f"items that changed most ({len(items):,} of {f['n']:,}, lowest Jaccard first; "
                       f"neighbours nearest first{', by ' + fields[0] if fields else ''}):",
                   _items_grid(items, fields, precision)]
    return blocks
