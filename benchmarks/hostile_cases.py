"""Option cases and checks against scipy for hostile_review.py.

Option cases: every numeric option given nan, inf, negative, huge, zero and junk values, conflicting
options and unknown choices, on small valid inputs; each says whether a correct siamcli answers
(exit 0, or 0/1 where a verdict is asked), refuses (a clean exit 2), or may do either.

Checks against scipy: for each metric and a range of magnitudes and dtypes, matrix's, compare
-k's and verify --paired's scores against hostile_reference (scipy's cdist on exactly scaled rows,
or longdouble brute force), top-k sets against a brute-force argsort, verdicts against the
reference's side of the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import hostile_reference as ref

OK, OK01, EITHER, ERROR = "ok", "ok01", "either", "error"


@dataclass
class OptionCase:
    name: str
    argv: list[str]
    expect: str  # ok (exit 0) | ok01 (exit 0 or 1) | either | error
    group: str


def option_files(folder: Path, rng) -> None:
    q, g, emb = rng.standard_normal((5, 8)), rng.standard_normal((20, 8)), rng.standard_normal((30, 8))
    for name, arr in (("q.npy", q), ("g.npy", g), ("g5.npy", g[:5]), ("emb.npy", emb), ("emb2.npy", emb + 0.1),
                      ("a.npy", emb[:10]), ("p.npy", emb[:10] + 0.05), ("n.npy", emb[10:20]), ("d4.npy", g[:, :4])):
        np.save(folder / name, arr)
    np.savez(folder / "emb.npz", embeddings=emb, other=g)
    (folder / "classes30.txt").write_text("".join(f"c{i % 3}\n" for i in range(30)))
    (folder / "labels30.txt").write_text("".join(f"{i % 2}\n" for i in range(30)))
    (folder / "pairs30.csv").write_text("left,right,label\n" + "".join(f"{i},{(i + 1) % 30},{i % 2}\n" for i in range(30)))
    (folder / "ids5.txt").write_text("".join(f"q{i}\n" for i in range(5)))
    (folder / "ids3.txt").write_text("a\nb\nc\n")


def _numeric(cases, group, base, flag, values):
    for value, expect in values:
        cases.append(OptionCase(f"{' '.join(base[:1])} {flag} {value!r}", [*base, flag, value], expect, group))


BAD_NUMBERS = [("nan", ERROR), ("inf", ERROR), ("-inf", ERROR), ("1e400", ERROR), ("abc", ERROR), ("", ERROR)]


def option_cases() -> list[OptionCase]:
    cases: list[OptionCase] = []
    C, M = ["compare", "q.npy", "g.npy"], ["matrix", "q.npy", "g.npy"]
    E = ["evaluate", "emb.npy", "--classes", "classes30.txt"]
    L = ["loss", "contrastive", "emb.npy", "--pairs", "pairs30.csv"]
    T = ["loss", "triplet", "a.npy", "p.npy", "n.npy"]
    _numeric(cases, "threshold", C, "-t", BAD_NUMBERS + [("-1e400", ERROR), ("0.5", OK), ("-5", OK), ("1e308", OK)])
    _numeric(cases, "threshold", ["verify", "q.npy", "g5.npy", "--paired"], "-t", [("nan", ERROR), ("inf", ERROR), ("0.1", OK01)])
    _numeric(cases, "top-k", C, "-k", [("0", EITHER), ("-1", ERROR), ("nan", ERROR), ("inf", ERROR), ("2.5", ERROR), ("abc", ERROR),
                                       ("", ERROR), ("all", OK), ("1", OK), (str(10**30), OK)])
    _numeric(cases, "limit", C, "--limit", [("0", EITHER), ("-1", ERROR), ("nan", ERROR), ("inf", ERROR), ("1.5", ERROR),
                                            ("abc", ERROR), ("all", OK), (str(10**30), OK)])
    _numeric(cases, "precision", [*C, "-f", "table"], "--precision", [("-1", ERROR), ("18", ERROR), ("nan", ERROR), ("abc", ERROR),
                                                                   ("0", OK), ("17", OK)])
    _numeric(cases, "threads", C, "--threads", [("0", ERROR), ("-1", ERROR), ("nan", ERROR), ("1e400", ERROR), ("abc", ERROR),
                                               ("1", OK), ("64", OK)])
    _numeric(cases, "memory", C, "--memory", [("nan", ERROR), ("inf", ERROR), ("-inf", ERROR), ("1e400", ERROR), ("-1", ERROR),
                                              ("abc", ERROR), ("", ERROR), ("10E", ERROR), ("nanM", ERROR), ("0", EITHER),
                                              ("1", EITHER), ("1K", EITHER), ("1P", EITHER), ("2P", ERROR), ("1e3M", EITHER),
                                              ("512M", OK), ("1.5G", OK)])
    _numeric(cases, "memory", M, "--memory", [("nan", ERROR), ("inf", ERROR), ("1", EITHER)])
    _numeric(cases, "p", [*C, "-m", "minkowski"], "--p", [("nan", ERROR), ("-inf", ERROR), ("1e400", EITHER), ("-1", ERROR),
                                                         ("abc", ERROR), ("inf", EITHER), ("0", EITHER), ("0.5", EITHER), ("3", OK)])
    _numeric(cases, "margin", L, "--margin", [("nan", ERROR), ("inf", ERROR), ("1e400", ERROR), ("abc", ERROR), ("-1", EITHER),
                                             ("0", OK), ("1e308", EITHER)])
    _numeric(cases, "margin", T, "--margin", [("nan", ERROR), ("inf", ERROR), ("-inf", ERROR), ("1e400", ERROR), ("-1", EITHER),
                                             ("0.2", OK)])
    _numeric(cases, "margins", [*L, "--sweep"], "--margins", [("nan", ERROR), ("inf", ERROR), ("0,1,nan", ERROR), ("", ERROR),
                                                              ("1,,2", ERROR), ("abc", ERROR), ("1e400", ERROR), ("0.1,0.2", OK),
                                                              ("-1", EITHER)])
    _numeric(cases, "far", E, "--far", [("nan", ERROR), ("inf", ERROR), ("-0.1", ERROR), ("2", ERROR), ("0.1,nan", ERROR),
                                        ("abc", ERROR), ("", ERROR), ("0", EITHER), ("1", EITHER), ("1e-400", EITHER), ("0.5", OK)])
    _numeric(cases, "folds", E, "--folds", [("0", ERROR), ("1", ERROR), ("nan", ERROR), ("2", OK), ("1000", EITHER)])
    _numeric(cases, "sample", E, "--sample", [("0", ERROR), ("1", ERROR), ("-5", ERROR), ("nan", ERROR), ("10", OK),
                                              (str(10**12), EITHER)])
    _numeric(cases, "recall-k", E, "--recall-k", [("0", ERROR), ("-1", ERROR), ("nan", ERROR), ("", ERROR), ("1,5", OK),
                                                  (str(10**9), EITHER)])
    _numeric(cases, "fail-under", E, "--fail-under", [("auc=nan", ERROR), ("eer=inf", ERROR), ("bogus=1", ERROR), ("auc", ERROR),
                                                      ("auc=2", EITHER), ("auc=0.5", OK01)])
    _numeric(cases, "seed", E, "--seed", [("nan", ERROR), ("abc", ERROR), ("-1", EITHER), (str(2**70), EITHER)])
    _numeric(cases, "sample", ["inspect", "emb.npy"], "--sample", [("1", ERROR), ("5001", ERROR), ("nan", ERROR), ("2", OK)])
    _choices(cases)
    _conflicts(cases)
    return cases


def _choices(cases) -> None:
    add = lambda name, argv, expect: cases.append(OptionCase(name, argv, expect, "choices"))  # noqa: E731
    add("unknown metric", ["compare", "q.npy", "g.npy", "-m", "cosinus"], ERROR)
    add("empty metric", ["compare", "q.npy", "g.npy", "-m", ""], ERROR)
    add("unknown format", ["compare", "q.npy", "g.npy", "-f", "xml"], ERROR)
    add("unknown zero-vector", ["compare", "q.npy", "g.npy", "--zero-vector", "skip"], ERROR)
    add("unknown input format", ["compare", "q.npy", "g.npy", "--input-format", "bin"], ERROR)
    add("matrix --dtype float16", ["matrix", "q.npy", "g.npy", "-o", "OUT/m.npy", "--dtype", "float16"], ERROR)
    add("matrix -o unknown suffix", ["matrix", "q.npy", "g.npy", "-o", "OUT/m.txt"], EITHER)
    add("matrix -o missing folder", ["matrix", "q.npy", "g.npy", "-o", "OUT/nowhere/m.npy"], ERROR)
    add("matrix -o DIR/ without scheduler", ["matrix", "q.npy", "g.npy", "-o", "OUT/"], ERROR)
    add("--key missing", ["compare", "emb.npz", "-k", "2", "--key", "nothere"], ERROR)
    add("--key on .npy", ["compare", "q.npy", "g.npy", "--key", "embeddings"], EITHER)
    add("--key other", ["compare", "emb.npz", "-k", "2", "--key", "other"], OK)
    add("--ids wrong count", ["compare", "q.npy", "g.npy", "--ids", "ids3.txt"], ERROR)
    add("--ids missing file", ["compare", "q.npy", "g.npy", "--ids", "nothere.txt"], ERROR)
    add("--ids ok", ["compare", "q.npy", "g.npy", "--ids", "ids5.txt"], OK)
    add("--b-ids wrong count", ["compare", "q.npy", "g.npy", "--b-ids", "ids5.txt"], ERROR)
    add("--cov-from with cosine", ["compare", "q.npy", "g.npy", "--cov-from", "emb.npy"], EITHER)
    add("--cov-from missing", ["compare", "q.npy", "g.npy", "-m", "mahalanobis", "--cov-from", "nothere.npy"], ERROR)
    add("--cov-from other width", ["compare", "q.npy", "g.npy", "-m", "mahalanobis", "--cov-from", "d4.npy"], ERROR)
    add("unknown option", ["compare", "q.npy", "g.npy", "--bogus"], ERROR)
    add("missing argument", ["compare"], ERROR)
    add("unknown command", ["comapre", "q.npy"], ERROR)
    add("A and B of different widths", ["compare", "q.npy", "d4.npy"], ERROR)
    add("--positive-label absent", ["evaluate", "emb.npy", "emb2.npy", "--labels", "labels30.txt", "--positive-label", "zz"], ERROR)
    for sched in ("bogus", "local:0", "local:-1", "local:abc", "tcp://127.0.0.1:9"):
        add(f"--scheduler {sched}", ["compare", "q.npy", "g.npy", "--scheduler", sched], ERROR)


def _conflicts(cases) -> None:
    add = lambda name, argv, expect: cases.append(OptionCase(name, argv, expect, "conflicts"))  # noqa: E731
    add("--paired --limit", ["compare", "q.npy", "g5.npy", "--paired", "--limit", "3"], EITHER)
    add("--paired with different row counts", ["compare", "q.npy", "g.npy", "--paired"], ERROR)
    add("--paired --pairs", ["compare", "emb.npy", "emb2.npy", "--paired", "--pairs", "pairs30.csv"], ERROR)
    add("-k with --limit", ["compare", "q.npy", "g.npy", "-k", "3", "--limit", "3"], ERROR)
    add("--paired without B", ["compare", "q.npy", "--paired"], ERROR)
    add("verify without -t", ["verify", "q.npy", "g5.npy", "--paired"], ERROR)
    add("verify --paired --pairs", ["verify", "emb.npy", "emb2.npy", "--paired", "--pairs", "pairs30.csv", "-t", "0.5"], ERROR)
    add("evaluate --pairs and --classes", ["evaluate", "emb.npy", "--pairs", "pairs30.csv", "--classes", "classes30.txt"], ERROR)
    add("evaluate without labels", ["evaluate", "emb.npy"], ERROR)
    add("evaluate --labels with one file", ["evaluate", "emb.npy", "--labels", "labels30.txt"], ERROR)
    add("evaluate --sample without --classes", ["evaluate", "emb.npy", "--pairs", "pairs30.csv", "--sample", "10"], ERROR)
    add("loss contrastive without labels", ["loss", "contrastive", "emb.npy"], ERROR)
    add("loss triplet with two files", ["loss", "triplet", "a.npy", "p.npy"], ERROR)
    add("loss with a similarity", ["loss", "triplet", "a.npy", "p.npy", "n.npy", "-m", "cosine"], ERROR)
    add("triplet of different row counts", ["loss", "triplet", "a.npy", "p.npy", "emb.npy"], ERROR)
    add("--normalize twice", ["compare", "q.npy", "g.npy", "--normalize", "--normalize"], OK)
    add("--quiet --debug", ["compare", "q.npy", "g.npy", "-q", "--debug"], OK)


# ---------------------------------------------------------------- checks against scipy

CORE = ["cosine", "cosine_distance", "angular", "dot", "euclidean", "sqeuclidean", "correlation"]
COMBOS = [("f64", 1.0), ("f64", 1e-300), ("f64", 1e300), ("f32", 1e-41), ("f32", 1e10), ("f32", 1e20)]
OTHERS = ["manhattan", "chebyshev", "minkowski", "canberra", "braycurtis", "hamming", "jaccard", "jensenshannon", "mahalanobis"]
PATHS = ("matrix", "topk", "paired")


@dataclass
class ScipyCase:
    name: str
    metric: str
    dtype: str
    scale: float
    path: str
    a: np.ndarray = field(repr=False, default=None)
    b: np.ndarray = field(repr=False, default=None)
    extra: list = field(default_factory=list)  # e.g. ['--p', '3'], ['--zero-vector', 'nan']
    note: str = ""


def scipy_cases(rng) -> list[ScipyCase]:
    cases = []
    for metric in CORE:
        for dtype, scale in COMBOS:
            for path in PATHS:
                cases.append(_case(rng, metric, dtype, scale, path))
    for metric in OTHERS:
        cases.append(_case(rng, metric, "f64", 1.0, "matrix"))
        cases.append(_case(rng, metric, "f32", 1.0, "topk"))
    for metric in ("cosine", "euclidean"):
        for path in ("matrix", "topk"):
            c = _case(rng, metric, "f64", 1.0, path)
            c.a = c.a * 10.0 ** np.linspace(-300, 300, c.a.shape[0])[:, None]
            c.b = c.b * 10.0 ** np.linspace(300, -300, c.b.shape[0])[:, None]
            c.name, c.note = f"{metric} {path} f64 rows 1e-300..1e300", "mixed magnitudes"
            cases.append(c)
    for metric in ("cosine", "correlation"):
        c = _case(rng, metric, "f64", 1.0, "topk")
        c.b[2] = 0.0 if metric == "cosine" else 1.5  # zero row / constant row: undefined, NaN
        c.extra, c.name, c.note = ["--zero-vector", "nan"], f"{metric} topk --zero-vector nan", "NaN ranks last, never dropped"
        cases.append(c)
    return cases


def _case(rng, metric, dtype, scale, path) -> ScipyCase:
    n, m, d = (30, 40, 4) if metric == "mahalanobis" else (6, 9, 8)
    a, b = rng.standard_normal((n, d)), rng.standard_normal((m, d))
    if metric == "jensenshannon":
        a, b = np.abs(a), np.abs(b)
    if metric in ("hamming", "jaccard"):
        a, b = rng.integers(0, 3, (n, d)).astype(float), rng.integers(0, 3, (m, d)).astype(float)
    a, b = a * scale, b * scale
    if dtype == "f32":
        a, b = a.astype(np.float32), b.astype(np.float32)
    extra = ["--p", "3"] if metric == "minkowski" else []
    return ScipyCase(f"{metric} {path} {dtype} x {scale:g}", metric, dtype, scale, path, a, b, extra)


def case_reference(case: ScipyCase, a, b):
    """Reference (values, scales) of the case's pairs for the files given."""
    kw = {"p": 3.0} if case.metric == "minkowski" else {}
    if case.metric == "mahalanobis":
        both = np.vstack([np.asarray(a, float), np.asarray(b, float)])
        kw = {"vi": np.linalg.inv(np.cov(both, rowvar=False))}
    if case.path == "paired":
        return ref.paired(case.metric, a, b, **kw)
    return ref.reference(case.metric, a, b, **kw)


def paired_threshold(values: np.ndarray, higher: bool) -> float:
    """A threshold in the widest gap between the paired scores, so that no verdict is borderline."""
    with np.errstate(over="ignore"):
        v = np.sort(np.asarray(values[np.isfinite(values)], dtype=float))
    if v.size < 2 or not np.all(np.isfinite(v)):
        return 0.5
    gaps = np.diff(v)
    i = int(np.argmax(gaps))
    return float(v[i] + gaps[i] / 2)
