"""The eight commands hostile_review.py runs over every generated input, and what each must answer.

For an input siamcli must read (`Input.expect` ok), each command's answer is checked against the
references: compare's self top-2 and matrix's cosines, verify's paired self-cosines (all 1, so all
match), evaluate's AUC by brute force, inspect's n and dim, the contrastive loss of listed pairs,
the triplet loss of (x, x, x) (exactly the margin, 0.2) and matrix -o's saved .npy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import hostile_reference as ref
from hostile_inputs import Input
from hostile_run import Parsed, csv_header, csv_rows, num, truth

LD = np.longdouble
MARGIN = 1.0  # contrastive's default margin
TRIPLET_MARGIN = 0.2
VERIFY_T = 0.99


@dataclass
class Command:
    name: str
    formats: bool  # takes -f
    argv: Callable  # (inp, fmt, ctx) -> list[str]
    validate: Callable  # (inp, parsed, ctx) -> list[(kind, detail)]
    ok_codes: tuple = (0,)


class Ctx:
    """Side files of the inputs folder (classes, pairs) and the run's output folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.out_dir: Path | None = None

    def classes(self, n: int) -> str:
        path = self.folder / f"_classes_{n}.txt"
        if not path.exists():
            path.write_text("".join(f"c{i % 2}\n" for i in range(n)))
        return path.name

    def pairs(self, n: int) -> str:
        path = self.folder / f"_pairs_{n}.csv"
        if not path.exists():
            rows = [(i, (i + 1) % n, i % 2) for i in range(n)] if n > 1 else [(0, 0, 1)]
            path.write_text("left,right,label\n" + "".join(f"{a},{b},{y}\n" for a, b, y in rows))
        return path.name


def pair_list(n: int):
    return [(i, (i + 1) % n, i % 2) for i in range(n)] if n > 1 else [(0, 0, 1)]


def _fmt(fmt):
    return ["-f", fmt] if fmt else []


def _wrong(detail_list, kind="silent wrong answer"):
    return [(kind, d) for d in detail_list]


def _records(parsed: Parsed) -> list | None:
    recs = parsed.records
    if recs is None:
        return None
    if isinstance(recs, dict):
        return [recs]
    return csv_rows(recs)


def _values(inp: Input) -> np.ndarray:
    return np.atleast_2d(inp.values)


def _cos_self(inp):
    return ref.reference("cosine", _values(inp), _values(inp))


def _check_ids(inp: Input, pairs) -> list:
    """pairs: (index, id as printed). Hostile ids must come back as they went in."""
    if inp.ids is None:
        return []
    bad = [(i, s) for i, s in pairs if 0 <= i < len(inp.ids) and s != inp.ids[i]]
    if not bad:
        return []
    i, s = bad[0]
    return [("ids changed", f"{len(bad)} ids differ from the input's (row {i}: {s!r} for {inp.ids[i]!r})")]


# ---------------------------------------------------------------- validators

def v_compare(inp, parsed, ctx):
    recs = _records(parsed)
    if recs is None or inp.rows < 2:
        return []
    rows: dict = {}
    for r in sorted(recs, key=lambda r: (num(r.get("a_index")), num(r.get("rank")))):
        rows.setdefault(int(num(r.get("a_index"))), []).append((int(num(r.get("b_index"))), num(r.get("score"))))
    values, scales = _cos_self(inp)
    problems = _wrong(ref.check_ranking(rows, values, scales, 2, True, inp.precision, exclude_self=True))
    ids = [(int(num(r.get("a_index"))), r.get("a_id")) for r in recs] + [(int(num(r.get("b_index"))), r.get("b_id")) for r in recs]
    return problems + _check_ids(inp, ids)


def _matrix_values(parsed):
    recs = parsed.records
    if isinstance(recs, dict):  # json
        return [[num(x) for x in row] for row in recs.get("values", [])], list(enumerate(recs.get("row_ids", [])))
    if recs and isinstance(recs[0], dict) and "__header__" in recs[0]:  # csv
        header = csv_header(recs)
        rows = csv_rows(recs)
        return [[num(r.get(h)) for h in header[1:]] for r in rows], [(i, r.get(header[0])) for i, r in enumerate(rows)]
    rows = sorted(recs, key=lambda r: num(r.get("row_index")))  # jsonl
    return [[num(x) for x in r.get("values", [])] for r in rows], [(int(num(r.get("row_index"))), r.get("row_id")) for r in rows]


def v_matrix(inp, parsed, ctx):
    if parsed.records is None:
        return []
    got, ids = _matrix_values(parsed)
    values, scales = _cos_self(inp)
    if len(got) != values.shape[0] or any(len(r) != values.shape[1] for r in got):
        return [("silent wrong answer", f"matrix of {len(got)} rows, expected {values.shape[0]} x {values.shape[1]}")]
    return _wrong(ref.check_values(np.array(got, dtype=float), values, scales, inp.precision)) + _check_ids(inp, ids)


def v_verify(inp, parsed, ctx):
    recs = _records(parsed)
    if recs is None:
        return []
    values, scales = ref.paired("cosine", _values(inp), _values(inp))
    problems = _wrong(ref.check_values([num(r.get("score")) for r in recs], values, scales, inp.precision))
    unmatched = sum(1 for r in recs if truth(r.get("match")) is not True)
    if unmatched:
        problems.append(("silent wrong answer", f"{unmatched} of {len(recs)} identical pairs judged different (cosine >= {VERIFY_T})"))
    return problems


def v_evaluate(inp, parsed, ctx):
    recs = _records(parsed)
    if not recs:
        return []
    rec = recs[0]
    n = inp.rows
    auc = num(rec.get("auc"))
    problems = []
    if num(rec.get("n_pairs")) != n * (n - 1) // 2:
        problems.append(f"n_pairs {rec.get('n_pairs')}, expected {n * (n - 1) // 2}")
    values, scales = _cos_self(inp)
    iu = np.triu_indices(n, 1)
    labels = (np.arange(n)[:, None] % 2 == np.arange(n)[None, :] % 2)[iu]
    want, room = ref.auc_reference(np.asarray(values[iu], dtype=float), labels, ref.RTOL[inp.precision])
    if not np.isfinite(auc):
        problems.append("auc null for a finite input")
    elif abs(auc - want) > room + 1e-9:
        problems.append(f"auc {auc:.6g}, expected {want:.6g} (+- {room:.3g} for near ties)")
    return _wrong(problems)


def v_inspect(inp, parsed, ctx):
    recs = _records(parsed)
    if not recs:
        return []
    rec = recs[0]
    v = _values(inp)
    problems = []
    for key, want in (("n", v.shape[0]), ("dim", v.shape[1]), ("zero_rows", inp.zero_rows)):
        if key in rec and num(rec.get(key)) != want:
            problems.append(f"{key} {rec.get(key)}, expected {want}")
    return _wrong(problems)


def contrastive_reference(inp) -> tuple[float, float]:
    v = _values(inp).astype(LD)
    pairs = pair_list(v.shape[0])
    losses, scales = [], []
    for a, b, y in pairs:
        d = np.sqrt(((v[a] - v[b]) ** 2).sum())
        losses.append(d * d if y else max(LD(0), MARGIN - d) ** 2)
        s = np.sqrt((v[a] ** 2).sum()) + np.sqrt((v[b] ** 2).sum()) + 1
        scales.append(s * s)
    return LD(np.mean(losses)), LD(np.mean(scales))


def v_contrastive(inp, parsed, ctx):
    recs = _records(parsed)
    if not recs:
        return []
    want, scale = contrastive_reference(inp)
    return _wrong(ref.check_values([num(recs[0].get("loss"))], [want], [scale], inp.precision, "loss"))


def v_triplet(inp, parsed, ctx):
    recs = _records(parsed)
    if not recs:
        return []
    return _wrong(ref.check_values([num(recs[0].get("loss"))], [TRIPLET_MARGIN], [1.0], "f32", "loss of (x, x, x)"))


def v_matrix_o(inp, parsed, ctx):
    path = ctx.out_dir / "out.npy"
    try:
        got = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any failure to read the output is the finding
        return [("silent wrong answer", f"exit 0 but out.npy unreadable: {type(exc).__name__}: {str(exc)[:80]}")]
    values, scales = _cos_self(inp)
    if got.shape != values.shape:
        return [("silent wrong answer", f"out.npy has shape {got.shape}, expected {values.shape}")]
    return _wrong(ref.check_values(got.astype(float), values, scales, inp.precision, "out.npy"))


# ---------------------------------------------------------------- the eight commands

def _path(inp):
    return inp.name


COMMANDS = [
    Command("compare", True, lambda i, f, c: ["compare", _path(i), "-k", "2", *_fmt(f), *i.args], v_compare),
    Command("matrix", True, lambda i, f, c: ["matrix", _path(i), *_fmt(f), *i.args], v_matrix),
    Command("verify", True, lambda i, f, c: ["verify", _path(i), _path(i), "--paired", "-t", str(VERIFY_T), *_fmt(f), *i.args],
            v_verify, (0, 1)),
    Command("evaluate", True, lambda i, f, c: ["evaluate", _path(i), "--classes", c.classes(i.rows), *_fmt(f), *i.args], v_evaluate),
    Command("inspect", True, lambda i, f, c: ["inspect", _path(i), *_fmt(f), *i.args], v_inspect),
    Command("contrastive", True, lambda i, f, c: ["loss", "contrastive", _path(i), "--pairs", c.pairs(i.rows), *_fmt(f), *i.args],
            v_contrastive),
    Command("triplet", True, lambda i, f, c: ["loss", "triplet", _path(i), _path(i), _path(i), *_fmt(f), *i.args], v_triplet),
    Command("matrix-o", False, lambda i, f, c: ["matrix", _path(i), "-o", str(c.out_dir / "out.npy"), *i.args], v_matrix_o),
]
COSINE_COMMANDS = {"compare", "matrix", "verify", "evaluate", "matrix-o"}


def _combine(base: str, other: str) -> str:
    if other == "error" or base == "error":
        return "error"
    return "either" if "either" in (base, other) else "ok"


def expectation(inp: Input, cmd: str) -> str:
    """What a correct siamcli does with this input under this command: ok, error or either."""
    if inp.expect == "error" or inp.values is None:
        return "error" if inp.expect == "error" else inp.expect
    base = inp.expect
    n = inp.rows
    if cmd in COSINE_COMMANDS and inp.zero_rows:
        return "error"  # cosine of a zero vector: --zero-vector error, the default
    if cmd == "compare" and n < 2:
        return _combine(base, "either")
    if cmd == "evaluate" and n < 3:
        return "error"  # classes c0, c1: no same-class pair
    if cmd == "inspect" and n < 2:
        return _combine(base, "either")
    if cmd == "contrastive":
        want, _ = contrastive_reference(inp)
        return _combine(base, ref.representable(np.array([want]), inp.precision))
    return base


def verify_expected_code(inp: Input) -> int:
    return 0
