#!/usr/bin/env python3
"""siamcli against numpy, scipy, scikit-learn and faiss, on the same seeded data, in one run.

    python benchmarks/run.py                      # every case at full size (long: see README.md)
    python benchmarks/run.py --quick              # small sizes, well under a minute
    python benchmarks/run.py --case topk --repeat 3 --json topk.json

Each case prints a table: implementation, median and minimum wall time, ratio = peer time /
siamcli time (> 1 means siamcli is faster), peak memory beyond what was resident before the call,
and whether the peer's result agrees with siamcli's. Ratios, not verdicts: each headline ratio is
printed next to the issue's target, and a summary of them closes the run.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import memwatch  # noqa: E402  (next to this script)

import siamcli  # noqa: E402

MiB = 2**20
SEED = 20240611
TOLERANCE = 1e-4  # |peer - siamcli| <= TOLERANCE * max(1, |siamcli|)
MEMORY_BUDGET = 512 * MiB  # siamcli's default working-memory budget
MIN_SAMPLE_S = 0.05  # shorter calls are repeated back to back within one timed sample

#: Headline targets from the issue, by headline key; None: the issue sets no number.
#: Each is (comparison, value): the headline meets it when `value <comparison> target`.
#: A third element "budget" marks a bound that is siamcli's memory budget, not a number from the issue.
TARGETS: dict[str, tuple | None] = {
    "paired": (">=", 0.8),  # numpy time / siamcli time
    "startup": ("<=", 1.5),  # siamcli compare time / python -c "import numpy" time
    "topk-memory": ("<", MEMORY_BUDGET / MiB),  # siamcli working memory beyond inputs, MiB
    "selfdup-memory": ("<", MEMORY_BUDGET / MiB, "budget"),  # peak RSS beyond the input, MiB
    "mmap-memory": ("<", MEMORY_BUDGET / MiB, "budget"),  # peak anonymous memory with memory=512 MiB, MiB
    "allpairs-numpy": ("<=", 1.15),  # siamcli time / numpy A @ B.T time ("x of numpy matmul")
    "allpairs-peer": (">", 1.0),  # faiss and scikit-learn time / siamcli time: siamcli faster
    "topk-faiss": (">=", 1 / 1.1),  # faiss knn time / siamcli time: siamcli within 1.1x of faiss
    "topk-sklearn": (">=", 1.8),  # NearestNeighbors(brute) time / siamcli time
    "nonblas-scipy": (">=", 4.0),  # scipy cdist time / siamcli time
    "vs-peer": None,  # other peers: reported, no target
}


def peer_target(case: str, peer_name: str) -> str:
    """The TARGETS key for a peer's ratio in a case (the issue's targets name faiss, sklearn, scipy)."""
    for word, key in (("faiss", "faiss"), ("sklearn", "sklearn"), ("scipy", "scipy")):
        if peer_name.startswith(word) and f"{case}-{key}" in TARGETS:
            return f"{case}-{key}"
    if case == "allpairs" and peer_name.startswith(("faiss", "sklearn")):
        return "allpairs-peer"
    return "vs-peer"

#: (full size, --quick size) of each case.
SIZES = {
    "allpairs": {"full": dict(n=10_000, m=10_000, d=384), "quick": dict(n=800, m=800, d=384)},
    "topk": {"full": dict(nq=2_000, nb=200_000, d=384, k=10), "quick": dict(nq=100, nb=10_000, d=384, k=10)},
    "nonblas": {"full": dict(n=2_000, m=2_000, d=384), "quick": dict(n=400, m=400, d=384)},
    "paired": {"full": dict(n=1_000_000, d=384), "quick": dict(n=20_000, d=384)},
    "selfdup": {"full": dict(n=100_000, d=384, k=5), "quick": dict(n=2_000, d=384, k=5)},
    # the quick gallery (73 MiB) is still over the 64 MiB above which siamcli memory-maps .npy files
    "mmap": {"full": dict(nq=1_000, nb=1_000_000, d=384, k=10), "quick": dict(nq=50, nb=50_000, d=384, k=10)},
    "startup": {"full": dict(na=20, nb=200, d=384), "quick": dict(na=20, nb=200, d=384)},
    "cluster": {"full": dict(nq=2_000, nb=1_000_000, d=384, k=10, shards=8),
                "quick": dict(nq=100, nb=40_000, d=384, k=10, shards=8)},
}
#: Default repetitions at full size (--repeat overrides); --quick uses 5 everywhere.
FULL_REPEAT = {"allpairs": 9, "selfdup": 2, "mmap": 3, "cluster": 3, "startup": 30}
CASE_NAMES = tuple(SIZES)


# ---------------------------------------------------------------- environment


def optional(name: str):
    """The module, or None when it is not installed (or cannot be imported)."""
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken install: either way the peer is unavailable
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mem_total() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def blas_info() -> list[str]:
    tpc = optional("threadpoolctl")
    if tpc is not None:
        rows = []
        for info in sorted(tpc.threadpool_info(), key=lambda i: (i.get("user_api", ""), i.get("filepath", ""))):
            name = f"{info.get('internal_api')} {info.get('version') or ''}".strip()
            detail = ", ".join(x for x in (info.get("user_api"), f"{info.get('num_threads')} threads",
                                           info.get("architecture") or info.get("threading_layer")) if x)
            rows.append(f"{name} ({detail}; from {Path(info.get('filepath', '')).parent.name})")
        return rows
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return [f"{blas.get('name')} {blas.get('version', '')} (numpy build; threadpoolctl not installed)"]
    except Exception:
        return ["unknown (threadpoolctl not installed)"]


def git_revision() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                "siamcli"], capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{rev}{' + uncommitted changes to siamcli/' if dirty else ''}" if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(threads: int | None) -> dict[str, Any]:
    versions = {"python": platform.python_version(), "numpy": np.__version__, "siamcli": siamcli.__version__}
    for label, name in (("scipy", "scipy"), ("scikit-learn", "sklearn"), ("faiss", "faiss"), ("numba", "numba")):
        mod = optional(name)
        versions[label] = getattr(mod, "__version__", "installed") if mod is not None else "not installed"
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cpus(),
        "memory": mem_total(),
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
        "blas": blas_info(),
        "siamcli_revision": git_revision(),
        "siamcli_threads_keyword": threads is not None,
        "threads_passed": threads,
        "memory_method": memwatch.method(),
    }


# ---------------------------------------------------------------- data


def embeddings(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n float32 vectors with varied norms (log-normal around 1), like unnormalised embeddings."""
    x = rng.standard_normal((n, d), dtype=np.float32)
    x *= (rng.lognormal(0.0, 0.25, size=n) / math.sqrt(d)).astype(np.float32)[:, None]
    return x


def normalized(x: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    return x / norms[:, None]


# ---------------------------------------------------------------- implementations and measurement


@dataclass
class Impl:
    """One implementation in a table. The first of a table is siamcli, the reference."""

    name: str
    run: Callable[[], Any] | None = None  # the timed call, on the full data
    warm: Callable[[], Any] | None = None  # a small call first (JIT, BLAS threads); default: run
    canon: Callable[[Any], Any] = lambda r: r  # result -> form the checker compares (not timed)
    unavailable: str | None = None  # "not installed", or "n/a: why"
    checked: bool = True  # False: a bound of another quantity (numpy matmul for cosine)
    note: str = ""


@dataclass
class Measured:
    name: str
    status: str = "ok"  # or "not installed", "n/a: ...", "error: ..."
    times: list[float] = field(default_factory=list)
    first: float | None = None  # the untimed, memory-measured full run
    peak_rss: int | None = None
    peak_anon: int | None = None
    check: str = ""
    agrees: bool | None = None
    ratio: float | None = None  # this time / siamcli time
    inner: int = 1  # calls averaged in each timed sample
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def best(self) -> float | None:
        return min(self.times) if self.times else None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "times_s": self.times, "median_s": self.median,
                "min_s": self.best, "first_run_s": self.first, "calls_per_sample": self.inner,
                "ratio_peer_over_siamcli": self.ratio,
                "peak_rss_bytes": self.peak_rss, "peak_anon_bytes": self.peak_anon, "check": self.check,
                "agrees": self.agrees, "note": self.note}


def error_text(exc: BaseException) -> str:
    text = f"error: {type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= 100 else text[:97] + "..."


class Bench:
    """Options, collected results and the printing of tables."""

    def __init__(self, args: argparse.Namespace, threads: int | None):
        self.args = args
        self.threads = threads
        self.report: dict[str, Any] = {"cases": {}, "summary": []}

    # siamcli keywords: threads= only when this version of the engine takes it
    def siam_kwargs(self, func: Callable) -> dict[str, Any]:
        if self.threads is not None and "threads" in inspect.signature(func).parameters:
            return {"threads": self.threads}
        return {}

    def repeat_for(self, case: str) -> int:
        if self.args.repeat is not None:
            return self.args.repeat
        return 5 if self.args.quick else FULL_REPEAT.get(case, 5)

    def measure(self, impls: list[Impl], checker: Callable[[Any, Any], tuple[bool, str]], case: str,
                keep: Callable[[Measured, Any], None] | None = None) -> list[Measured]:
        """Warm up, one memory-measured run (whose result is checked), then timed runs, interleaved."""
        results = [Measured(impl.name, note=impl.note) for impl in impls]
        reference = None
        for index, (impl, res) in enumerate(zip(impls, results)):
            if impl.unavailable:
                res.status = impl.unavailable
                continue
            try:
                (impl.warm or impl.run)()
                with memwatch.PeakMemory() as peak:
                    t0 = time.perf_counter()
                    out = impl.run()
                    res.first = time.perf_counter() - t0
                res.peak_rss, res.peak_anon = peak.peak_rss, peak.peak_anon
                form = impl.canon(out)
                if keep is not None:
                    keep(res, form)
                del out
            except Exception as exc:
                res.status = error_text(exc)
                continue
            if index == 0:
                reference, res.check = form, "reference"
            elif not impl.checked:
                res.check = "n/a (bound)"
            elif reference is None:
                res.check = "unchecked (siamcli failed)"
            else:
                try:
                    res.agrees, res.check = checker(form, reference)
                except Exception as exc:
                    res.agrees, res.check = False, f"DIFFERS ({error_text(exc)})"
            del form
        del reference
        # timed runs, round robin so that a burst of load on this shared machine hits everyone
        repeat, budget = self.repeat_for(case), self.args.budget
        counts = {}
        for impl, res in zip(impls, results):
            if res.status == "ok":
                # a call shorter than MIN_SAMPLE_S is timed as the mean of several back-to-back calls,
                # so that one scheduler hiccup on this shared machine does not swamp a sample
                short = res.first < MIN_SAMPLE_S
                res.inner = min(1000, math.ceil(MIN_SAMPLE_S / max(res.first, 1e-6))) if short else 1
                fits = int(budget // max(res.first * res.inner, 1e-9)) if budget > 0 else repeat
                counts[id(res)] = max(1, min(repeat, fits))
        for _ in range(max(counts.values(), default=0)):
            for impl, res in zip(impls, results):
                if res.status != "ok" or len(res.times) >= counts[id(res)]:
                    continue
                memwatch.release_free_memory()
                try:
                    if res.inner == 1:
                        t0 = time.perf_counter()
                        out = impl.run()
                        elapsed = time.perf_counter() - t0
                        del out  # freeing a big result is not part of the call
                    else:
                        t0 = time.perf_counter()
                        for _ in range(res.inner):
                            impl.run()
                        elapsed = (time.perf_counter() - t0) / res.inner
                except Exception as exc:
                    res.status = error_text(exc)
                    continue
                res.times.append(elapsed)
        siam = results[0].median
        for res in results:
            if res.median is not None and siam:
                res.ratio = res.median / siam
        return results

    def section(self, title: str) -> None:
        print(f"\n{title}")

    def table(self, case: str, title: str, results: list[Measured], lines: list[str] = ()) -> None:
        header = ("implementation", "median", "min", "peer/siamcli", "peak RSS+", "peak anon+", "runs", "result")
        rows = [header]
        for r in results:
            if r.status != "ok":
                rows.append((r.name, "-", "-", "-", "-", "-", "-", r.status))
                continue
            rows.append((r.name, fmt_time(r.median), fmt_time(r.best), fmt_ratio(r.ratio), fmt_mib(r.peak_rss),
                         fmt_mib(r.peak_anon), str(len(r.times)) + (f"x{r.inner}" if r.inner > 1 else ""),
                         r.check + (f"; {r.note}" if r.note else "")))
        print_rows(rows, right=(1, 2, 3, 4, 5, 6))
        for line in lines:
            print(f"  {line}")
        self.report["cases"].setdefault(case, []).append(
            {"title": title, "results": [r.as_json() for r in results], "notes": list(lines)})

    def headline(self, case: str, variant: str, what: str, value: float | None, unit: str, target_key: str) -> str:
        """Record a headline number and return the line that shows it next to the issue's target."""
        target = TARGETS.get(target_key)
        word = target[2] if target and len(target) > 2 else "target"
        target_text = f"{word} {target[0]} {target[1]:g}{' MiB' if unit == 'MiB' else ''}" if target else None
        self.report["summary"].append({"case": case, "variant": variant, "what": what, "value": value, "unit": unit,
                                       "target": target_text})
        label = f"{case} {variant}".strip()
        return f"{label}: {what}: {fmt_value(value, unit)}   ({target_text or 'no target set'})"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "s":
        return fmt_time(value)
    return f"{value:.2f}"


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    if t >= 100:
        return f"{t:.1f} s"
    if t >= 1:
        return f"{t:.3f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} us"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}"


def fmt_mib(b: int | None) -> str:
    return "-" if b is None else f"{b / MiB:.1f} MiB"


def print_rows(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print("  " + "  ".join(cells).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def fastest_peer(results: list[Measured]) -> Measured | None:
    """The fastest peer whose result agrees with siamcli's."""
    peers = [r for r in results[1:] if r.median is not None and r.agrees]
    return min(peers, key=lambda r: r.median) if peers else None


# ---------------------------------------------------------------- checkers


def _relative_error(x: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """Largest |x - ref| / max(1, |ref|), and how many entries are NaN in one but not the other."""
    x = np.asarray(x, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    nan_mismatch = int(np.count_nonzero(np.isnan(x) != np.isnan(ref)))
    err = np.abs(x - ref) / np.maximum(1.0, np.abs(ref))
    err = err[~np.isnan(err)]
    return (float(err.max()) if err.size else 0.0), nan_mismatch


def check_values(x, ref) -> tuple[bool, str]:
    """Matrices or vectors of scores: every entry within the tolerance."""
    x = np.asarray(x)
    if x.shape != ref.shape:
        return False, f"DIFFERS (shape {x.shape} vs {ref.shape})"
    worst, nans = 0.0, 0
    step = max(1, 2**22 // max(1, x[0].size if x.ndim > 1 else 1))  # rows per chunk: bounded temporaries
    for i in range(0, x.shape[0], step):
        err, nan = _relative_error(x[i:i + step], ref[i:i + step])
        worst, nans = max(worst, err), nans + nan
    if nans:
        return False, f"DIFFERS ({nans} NaN mismatches)"
    return (True, f"agrees (max err {worst:.0e})") if worst <= TOLERANCE else (False, f"DIFFERS (max err {worst:.1e})")


def check_topk(x, ref) -> tuple[bool, str]:
    """(indices, scores) per row: identical indices, or scores rank by rank within the tolerance."""
    idx, sc = x
    ridx, rsc = ref
    if idx.shape != ridx.shape:
        return False, f"DIFFERS (shape {idx.shape} vs {ridx.shape})"
    rows_differ = int(np.count_nonzero((idx != ridx).any(axis=1)))
    err, nans = _relative_error(sc, rsc)
    if err <= TOLERANCE and not nans:
        ties = f", {rows_differ} rows order near-ties differently" if rows_differ else ""
        return True, f"agrees (max err {err:.0e}{ties})"
    if rows_differ == 0:
        return True, f"agrees (same indices; scores differ by {err:.1e})"
    return False, f"DIFFERS ({rows_differ} rows, max err {err:.1e})"


def ranking_topk(ranking, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A per-row siamcli Ranking as (n, k) indices and scores (-1 / NaN where a row has fewer)."""
    idx = np.full((n, k), -1, dtype=np.int64)
    sc = np.full((n, k), np.nan)
    keep = ranking.rank <= k
    idx[ranking.a_index[keep], ranking.rank[keep] - 1] = ranking.b_index[keep]
    sc[ranking.a_index[keep], ranking.rank[keep] - 1] = ranking.score[keep]
    return idx, sc


def ranking_paired(ranking, n: int) -> np.ndarray:
    sc = np.full(n, np.nan)
    sc[ranking.a_index] = ranking.score
    return sc


# ---------------------------------------------------------------- reference implementations


def topk_block_rows(nq: int, nb: int, work_bytes: int = MEMORY_BUDGET) -> int:
    """Queries per block of numpy_topk: float32 keys and int64 argpartition indices in work_bytes."""
    return max(1, min(nq, work_bytes // (nb * 12)))


def numpy_topk(q: np.ndarray, g: np.ndarray, k: int, metric: str, exclude_self: bool = False,
               work_bytes: int = MEMORY_BUDGET) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k with numpy: a block of queries @ gallery.T, then argpartition. Ties by index."""
    nq, nb = len(q), len(g)
    if metric == "cosine":
        qx = normalized(q)
        gx = qx if (exclude_self and q is g) else normalized(g)
    else:
        qx, gx = q, g
        g2 = np.einsum("ij,ij->i", g, g)
    rows = topk_block_rows(nq, nb, work_bytes)
    out_i = np.empty((nq, k), dtype=np.int64)
    out_s = np.empty((nq, k), dtype=np.float64)
    for i0 in range(0, nq, rows):
        i1 = min(nq, i0 + rows)
        keys = qx[i0:i1] @ gx.T  # smaller key is better: -similarity, or squared distance
        if metric == "cosine":
            np.negative(keys, out=keys)
        else:
            keys *= -2
            keys += np.einsum("ij,ij->i", q[i0:i1], q[i0:i1])[:, None]
            keys += g2[None, :]
        if exclude_self:
            keys[np.arange(i1 - i0), np.arange(i0, i1)] = np.inf
        part = np.argpartition(keys, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(keys, part, axis=1)
        order = np.lexsort((part, best), axis=1)
        out_i[i0:i1] = np.take_along_axis(part, order, axis=1)
        best = np.take_along_axis(best, order, axis=1).astype(np.float64)
        out_s[i0:i1] = -best if metric == "cosine" else np.sqrt(np.maximum(best, 0.0))
    return out_i, out_s


def drop_self(d: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index from a k+1 self-search (or its last hit if absent)."""
    n, k1 = i.shape
    hit = i == np.arange(n)[:, None]
    hit[~hit.any(axis=1), -1] = True
    keep = ~hit
    return i[keep].reshape(n, k1 - 1), d[keep].reshape(n, k1 - 1)


def sqrt_inplace(x: np.ndarray) -> np.ndarray:
    np.maximum(x, 0, out=x)
    return np.sqrt(x, out=x)


def one_minus_inplace(x: np.ndarray) -> np.ndarray:
    return np.subtract(1, x, out=x)


# ---------------------------------------------------------------- cases


def case_allpairs(bench: Bench, size: dict) -> None:
    n, m, d = size["n"], size["m"], size["d"]
    rng = np.random.default_rng([SEED, 1])
    a, b = embeddings(rng, n, d), embeddings(rng, m, d)
    wa = a[:64]
    scipy_distance = optional("scipy.spatial.distance")
    skp = optional("sklearn.metrics.pairwise")
    faiss = optional("faiss")
    kw = bench.siam_kwargs(siamcli.matrix)
    for metric in ("cosine", "dot", "euclidean"):
        impls = [
            Impl("siamcli", lambda: siamcli.matrix(a, b, metric=metric, **kw).values,
                 lambda: siamcli.matrix(wa, b, metric=metric, **kw).values),
            Impl("numpy A @ B.T", lambda: a @ b.T, lambda: wa @ b.T, checked=metric == "dot",
                 note="" if metric == "dot" else "the matmul alone"),
        ]
        if scipy_distance is None:
            impls.append(Impl("scipy cdist", unavailable="not installed"))
        elif metric == "dot":
            impls.append(Impl("scipy cdist", unavailable="n/a: cdist has no dot product"))
        elif metric == "cosine":
            impls.append(Impl("scipy cdist", lambda: one_minus_inplace(scipy_distance.cdist(a, b, "cosine")),
                              lambda: scipy_distance.cdist(wa, b, "cosine"), note="1 - cdist"))
        else:
            impls.append(Impl("scipy cdist", lambda: scipy_distance.cdist(a, b, "euclidean"),
                              lambda: scipy_distance.cdist(wa, b, "euclidean")))
        sk_fn = None if skp is None else {"cosine": skp.cosine_similarity, "dot": skp.linear_kernel,
                                          "euclidean": skp.euclidean_distances}[metric]
        sk_name = {"cosine": "cosine_similarity", "dot": "linear_kernel", "euclidean": "euclidean_distances"}[metric]
        if sk_fn is None:
            impls.append(Impl(f"sklearn {sk_name}", unavailable="not installed"))
        else:
            impls.append(Impl(f"sklearn {sk_name}", lambda: sk_fn(a, b), lambda: sk_fn(wa, b)))
        if faiss is None:
            impls.append(Impl("faiss pairwise_distances", unavailable="not installed"))
        elif metric == "cosine":
            ip = faiss.METRIC_INNER_PRODUCT
            impls.append(Impl("faiss pairwise_distances",
                              lambda: faiss.pairwise_distances(normalized(a), normalized(b), ip),
                              lambda: faiss.pairwise_distances(normalized(wa), normalized(b), ip),
                              note="inner product of normalised rows"))
        elif metric == "dot":
            impls.append(Impl("faiss pairwise_distances",
                              lambda: faiss.pairwise_distances(a, b, faiss.METRIC_INNER_PRODUCT),
                              lambda: faiss.pairwise_distances(wa, b, faiss.METRIC_INNER_PRODUCT)))
        else:
            impls.append(Impl("faiss pairwise_distances", lambda: sqrt_inplace(faiss.pairwise_distances(a, b)),
                              lambda: faiss.pairwise_distances(wa, b), note="sqrt of METRIC_L2"))
        title = f"allpairs {metric}: {n:,} x {m:,} x {d} float32 matrix"
        bench.section(title)
        results = bench.measure(impls, check_values, "allpairs")
        siam, mm = results[0], results[1]
        x_numpy = siam.median / mm.median if siam.median and mm.median else None
        lines = [bench.headline("allpairs", metric, "siamcli time / numpy matmul time (x of numpy matmul)",
                                x_numpy, "x", "allpairs-numpy")]
        peer = fastest_peer([r for r in results if r.name != "numpy A @ B.T"])
        fastest = peer.name if peer else "none agreeing"
        lines.append(bench.headline("allpairs", metric, f"fastest peer ({fastest}) / siamcli",
                                    peer.ratio if peer else None, "x", peer_target("allpairs", fastest)))
        bench.table("allpairs", title, results, lines)
        del results


def case_topk(bench: Bench, size: dict) -> None:
    nq, nb, d, k = size["nq"], size["nb"], size["d"], size["k"]
    rng = np.random.default_rng([SEED, 2])
    q, g = embeddings(rng, nq, d), embeddings(rng, nb, d)
    wq = q[:16]
    faiss = optional("faiss")
    neighbors = optional("sklearn.neighbors")
    kw = bench.siam_kwargs(siamcli.compare)
    for metric in ("cosine", "euclidean"):
        impls = [Impl("siamcli", lambda: siamcli.compare(q, g, metric=metric, top_k=k, **kw),
                      lambda: siamcli.compare(wq, g, metric=metric, top_k=k, **kw),
                      canon=lambda r: ranking_topk(r, nq, k))]
        if faiss is None:
            impls.append(Impl("faiss knn", unavailable="not installed"))
        elif metric == "cosine":
            def faiss_cos(qq):
                dist, idx = faiss.knn(normalized(qq), normalized(g), k, metric=faiss.METRIC_INNER_PRODUCT)
                return idx, dist
            impls.append(Impl("faiss knn", lambda: faiss_cos(q), lambda: faiss_cos(wq),
                              note="inner product of normalised rows"))
        else:
            def faiss_l2(qq):
                dist, idx = faiss.knn(qq, g, k, metric=faiss.METRIC_L2)
                return idx, sqrt_inplace(dist)
            impls.append(Impl("faiss knn", lambda: faiss_l2(q), lambda: faiss_l2(wq), note="sqrt of METRIC_L2"))
        if neighbors is None:
            impls.append(Impl("sklearn NearestNeighbors", unavailable="not installed"))
        else:
            def sk_knn(qq):
                nn = neighbors.NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(g)
                dist, idx = nn.kneighbors(qq)
                return idx, (1.0 - dist if metric == "cosine" else dist)
            impls.append(Impl("sklearn NearestNeighbors", lambda: sk_knn(q), lambda: sk_knn(wq),
                              note="brute; 1 - cosine distance" if metric == "cosine" else "brute"))
        impls.append(Impl("numpy matmul + argpartition", lambda: numpy_topk(q, g, k, metric),
                          lambda: numpy_topk(wq, g, k, metric),
                          note=f"blocks of {topk_block_rows(nq, nb):,} queries"))
        title = f"topk {metric}: top-{k} of {nq:,} queries x {nb:,} gallery x {d} float32"
        bench.section(title)
        results = bench.measure(impls, check_topk, "topk")
        siam = results[0]
        lines = []
        if siam.peak_rss is not None:
            lines.append(bench.headline("topk", metric, "siamcli working memory beyond the inputs (peak RSS)",
                                        siam.peak_rss / MiB, "MiB", "topk-memory"))
        for peer in results[1:]:
            if peer.ratio is not None and peer.agrees:
                lines.append(bench.headline("topk", metric, f"{peer.name} / siamcli", peer.ratio, "x",
                                            peer_target("topk", peer.name)))
        bench.table("topk", title, results, lines)


def case_nonblas(bench: Bench, size: dict) -> None:
    n, m, d = size["n"], size["m"], size["d"]
    rng = np.random.default_rng([SEED, 3])
    a, b = embeddings(rng, n, d), embeddings(rng, m, d)
    wa = a[:32]
    scipy_distance = optional("scipy.spatial.distance")
    skp = optional("sklearn.metrics.pairwise")
    faiss = optional("faiss")
    kw = bench.siam_kwargs(siamcli.matrix)
    for metric, scipy_name, faiss_metric in (("manhattan", "cityblock", "METRIC_L1"),
                                             ("chebyshev", "chebyshev", "METRIC_Linf")):
        impls = [Impl("siamcli", lambda: siamcli.matrix(a, b, metric=metric, **kw).values,
                      lambda: siamcli.matrix(wa, b, metric=metric, **kw).values)]
        if scipy_distance is None:
            impls.append(Impl(f"scipy cdist {scipy_name}", unavailable="not installed"))
        else:
            impls.append(Impl(f"scipy cdist {scipy_name}", lambda: scipy_distance.cdist(a, b, scipy_name),
                              lambda: scipy_distance.cdist(wa, b, scipy_name)))
        if skp is None:
            impls.append(Impl(f"sklearn pairwise_distances {metric}", unavailable="not installed"))
        else:
            impls.append(Impl(f"sklearn pairwise_distances {metric}",
                              lambda: skp.pairwise_distances(a, b, metric=metric),
                              lambda: skp.pairwise_distances(wa, b, metric=metric)))
        if faiss is None:
            impls.append(Impl(f"faiss pairwise_distances {faiss_metric}", unavailable="not installed"))
        elif not hasattr(faiss, faiss_metric):
            impls.append(Impl(f"faiss pairwise_distances {faiss_metric}", unavailable=f"n/a: no faiss.{faiss_metric}"))
        else:
            fm = getattr(faiss, faiss_metric)
            impls.append(Impl(f"faiss pairwise_distances {faiss_metric}", lambda: faiss.pairwise_distances(a, b, fm),
                              lambda: faiss.pairwise_distances(wa, b, fm)))
        title = f"nonblas {metric}: {n:,} x {m:,} x {d} float32 matrix"
        bench.section(title)
        results = bench.measure(impls, check_values, "nonblas")
        lines = []
        peer = fastest_peer(results)
        fastest = peer.name if peer else "none agreeing"
        lines.append(bench.headline("nonblas", metric, f"fastest peer ({fastest}) / siamcli",
                                    peer.ratio if peer else None, "x", "vs-peer"))
        for other in results[1:]:
            if other.ratio is not None and other.agrees and other.name.startswith(("scipy", "faiss")):
                lines.append(bench.headline("nonblas", metric, f"{other.name} / siamcli", other.ratio, "x",
                                            peer_target("nonblas", other.name)))
        bench.table("nonblas", title, results, lines)


def case_paired(bench: Bench, size: dict) -> None:
    n, d = size["n"], size["d"]
    rng = np.random.default_rng([SEED, 4])
    a = embeddings(rng, n, d)
    b = embeddings(rng, n, d)
    b += a  # related pairs, as a Siamese network's two branches give
    wa, wb = a[:1000], b[:1000]
    skp = optional("sklearn.metrics.pairwise")
    kw = bench.siam_kwargs(siamcli.compare)

    def np_cosine(x, y):
        return np.einsum("ij,ij->i", x, y) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))

    def np_euclidean(x, y):
        return np.linalg.norm(x - y, axis=1)

    for metric in ("cosine", "euclidean"):
        np_fn = np_cosine if metric == "cosine" else np_euclidean
        impls = [Impl("siamcli", lambda: siamcli.compare(a, b, metric=metric, paired=True, **kw),
                      lambda: siamcli.compare(wa, wb, metric=metric, paired=True, **kw),
                      canon=lambda r: ranking_paired(r, n)),
                 Impl("numpy row-wise", lambda: np_fn(a, b), lambda: np_fn(wa, wb),
                      note="einsum / norms" if metric == "cosine" else "norm(a - b, axis=1)")]
        if skp is None:
            impls.append(Impl("sklearn paired_*", unavailable="not installed"))
        elif metric == "cosine":
            impls.append(Impl("sklearn paired_cosine_distances",
                              lambda: one_minus_inplace(skp.paired_cosine_distances(a, b)),
                              lambda: skp.paired_cosine_distances(wa, wb), note="1 - distance"))
        else:
            impls.append(Impl("sklearn paired_euclidean_distances", lambda: skp.paired_euclidean_distances(a, b),
                              lambda: skp.paired_euclidean_distances(wa, wb)))
        title = f"paired {metric}: {n:,} pairs x {d} float32"
        bench.section(title)
        results = bench.measure(impls, check_values, "paired")
        numpy_row = results[1]
        value = numpy_row.ratio if numpy_row.agrees else None
        lines = [bench.headline("paired", metric, "numpy time / siamcli time (siamcli speed as a fraction of numpy)",
                                value, "x", "paired")]
        bench.table("paired", title, results, lines)


def case_selfdup(bench: Bench, size: dict) -> None:
    n, d, k = size["n"], size["d"], size["k"]
    rng = np.random.default_rng([SEED, 5])
    x = embeddings(rng, n, d)
    planted = max(1, n // 100)  # 1% of rows are near-copies of another row
    rows = rng.permutation(n)[: 2 * planted]
    src, dst = rows[:planted], rows[planted:]
    x[dst] = x[src] + rng.standard_normal((planted, d), dtype=np.float32) * np.float32(1e-3 / math.sqrt(d))
    wx = np.ascontiguousarray(x[: min(n, 1000)])
    faiss = optional("faiss")
    kw = bench.siam_kwargs(siamcli.compare)
    impls = [Impl("siamcli", lambda: siamcli.compare(x, metric="cosine", top_k=k, **kw),
                  lambda: siamcli.compare(wx, metric="cosine", top_k=k, **kw),
                  canon=lambda r: ranking_topk(r, n, k))]
    if faiss is None:
        impls.append(Impl("faiss knn", unavailable="not installed"))
    else:
        def faiss_self(v):
            vn = normalized(v)
            dist, idx = faiss.knn(vn, vn, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
            return drop_self(dist, idx)
        impls.append(Impl("faiss knn", lambda: faiss_self(x), lambda: faiss_self(wx),
                          note=f"k={k + 1}, self dropped"))
    impls.append(Impl("numpy matmul + argpartition", lambda: numpy_topk(x, x, k, "cosine", exclude_self=True),
                      lambda: numpy_topk(wx, wx, k, "cosine", exclude_self=True)))

    found = {}

    def keep(res: Measured, form) -> None:
        if res.name == "siamcli":
            idx = form[0]
            found["n"] = int(np.count_nonzero(idx[dst, 0] == src))

    title = (f"selfdup: top-{k} of each of {n:,} x {d} float32 against the rest (cosine; "
             f"{planted:,} planted near-duplicates)")
    bench.section(title)
    results = bench.measure(impls, check_topk, "selfdup", keep=keep)
    siam = results[0]
    lines = []
    if "n" in found:
        lines.append(f"siamcli puts the planted near-duplicate first for {found['n']:,} of {planted:,} planted rows")
    if siam.median is not None:
        lines.append(bench.headline("selfdup", "", "siamcli median time", siam.median, "s", "none"))
    if siam.peak_rss is not None:
        lines.append(bench.headline("selfdup", "", "siamcli peak memory beyond the input (RSS)",
                                    siam.peak_rss / MiB, "MiB", "selfdup-memory"))
    for peer in results[1:]:
        if peer.ratio is not None and peer.agrees:
            lines.append(bench.headline("selfdup", "", f"{peer.name} / siamcli", peer.ratio, "x", "vs-peer"))
    bench.table("selfdup", title, results, lines)


def case_mmap(bench: Bench, size: dict) -> None:
    nq, nb, d, k = size["nq"], size["nb"], size["d"], size["k"]
    rng = np.random.default_rng([SEED, 6])
    faiss = optional("faiss")
    kw = bench.siam_kwargs(siamcli.compare)
    with tempfile.TemporaryDirectory(prefix="siamcli-bench-") as tmp:
        path = Path(tmp) / "gallery.npy"
        # written in chunks, so making the gallery never holds it all in memory; rows unit-norm,
        # so faiss's inner product on the memory map is the cosine without a normalised copy
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(nb, d))
        for start in range(0, nb, 65536):
            stop = min(nb, start + 65536)
            out[start:stop] = normalized(embeddings(rng, stop - start, d))
        out.flush()
        del out
        q = embeddings(rng, nq, d)
        wq = q[:8]
        mapped = isinstance(siamcli.load(path).vectors, np.memmap)
        impls = [Impl("siamcli", lambda: siamcli.compare(q, siamcli.load(path), metric="cosine", top_k=k,
                                                          memory=MEMORY_BUDGET, **kw),
                      lambda: siamcli.compare(wq, siamcli.load(path), metric="cosine", top_k=k,
                                              memory=MEMORY_BUDGET, **kw),
                      canon=lambda r: ranking_topk(r, nq, k), note="load + compare")]
        if faiss is None:
            impls.append(Impl("faiss knn on the memmap", unavailable="not installed"))
        else:
            def faiss_mm(qq):
                g = np.load(path, mmap_mode="r")
                dist, idx = faiss.knn(normalized(qq), g, k, metric=faiss.METRIC_INNER_PRODUCT)
                return idx, dist
            impls.append(Impl("faiss knn on the memmap", lambda: faiss_mm(q), lambda: faiss_mm(wq),
                              note="inner product; gallery rows unit-norm"))
        title = f"mmap: top-{k} of {nq:,} queries x {nb:,} x {d} float32 gallery (.npy, memory-mapped; cosine)"
        bench.section(title)
        results = bench.measure(impls, check_topk, "mmap")
    siam = results[0]
    lines = [f"gallery file {nb * d * 4 / MiB:,.0f} MiB, memory-mapped by siamcli.load: {'yes' if mapped else 'NO'}; "
             "page cache warm (the file was just written); peak RSS counts mapped file pages, peak anon does not"]
    if siam.median is not None:
        lines.append(bench.headline("mmap", "", "siamcli median time", siam.median, "s", "none"))
    if siam.peak_anon is not None:
        lines.append(bench.headline("mmap", "", "siamcli peak anonymous memory (memory=512 MiB)",
                                    siam.peak_anon / MiB, "MiB", "mmap-memory"))
    if siam.peak_rss is not None:
        lines.append(f"mmap: siamcli peak RSS including mapped file pages: {siam.peak_rss / MiB:.0f} MiB")
    for peer in results[1:]:
        if peer.ratio is not None and peer.agrees:
            lines.append(bench.headline("mmap", "", f"{peer.name} / siamcli", peer.ratio, "x", "vs-peer"))
    bench.table("mmap", title, results, lines)


def case_startup(bench: Bench, size: dict) -> None:
    na, nb, d = size["na"], size["nb"], size["d"]
    rng = np.random.default_rng([SEED, 7])
    exe = Path(sys.executable).parent / ("siamcli.exe" if os.name == "nt" else "siamcli")
    reps = max(10, bench.repeat_for("startup"))  # cheap runs on a noisy host: 30 by default
    title = (f"startup: `siamcli compare a.npy b.npy` ({na} x {d} against {nb} x {d}) as a subprocess, "
             f"{reps} runs each, interleaved")
    bench.section(title)
    names = ["siamcli compare a.npy b.npy", 'python -c "import numpy"']
    results = [Measured(name, note="peak RSS of the whole process") for name in names]
    if not exe.exists():
        results[0].status = f"not installed ({exe} missing)"
    with tempfile.TemporaryDirectory(prefix="siamcli-bench-") as tmp:
        a_path, b_path = Path(tmp) / "a.npy", Path(tmp) / "b.npy"
        np.save(a_path, embeddings(rng, na, d))
        np.save(b_path, embeddings(rng, nb, d))
        commands = [[str(exe), "compare", str(a_path), str(b_path)], [sys.executable, "-c", "import numpy"]]
        runnable = [i for i, r in enumerate(results) if r.status == "ok"]
        # timed from a small helper process: a child's peak RSS would include this big process's
        spec = json.dumps({"commands": [commands[i] for i in runnable], "repeat": reps})
        helper = Path(__file__).resolve().parent / "spawn_timer.py"
        proc = subprocess.run([sys.executable, str(helper), spec], capture_output=True, text=True)
        if proc.returncode != 0:
            for i in runnable:
                results[i].status = f"error: spawn_timer.py failed: {proc.stderr.strip()[-80:]}"
        else:
            for i, out in zip(runnable, json.loads(proc.stdout)):
                res = results[i]
                if out["error"]:
                    res.status = f"error: {out['error']}"[:100]
                res.times = out["times"]
                res.peak_rss = max(out["peak_rss"]) if out["peak_rss"] else None
                res.check = "exit 0"
    siam, bare = results
    value = None
    if siam.median and bare.median:
        siam.ratio, bare.ratio = 1.0, bare.median / siam.median
        value = siam.median / bare.median
    lines = [bench.headline("startup", "", 'siamcli compare time / python -c "import numpy" time', value, "x",
                            "startup")]
    bench.table("startup", title, results, lines)


def case_cluster(bench: Bench, size: dict) -> None:
    """Issue 5: the local engine and Dask LocalClusters (1 and 2 worker processes) on the same
    sharded gallery: time, bytes the client receives, overhead ratio, throughput per worker."""
    nq, nb, d, k, n_shards = size["nq"], size["nb"], size["d"], size["k"], size["shards"]
    title = f"cluster: top-{k} of {nq:,} queries x {nb:,} x {d} float32 gallery in {n_shards} .npy shards (cosine)"
    if optional("distributed") is None:
        bench.section(title)
        bench.table("cluster", title, [Measured("siamcli on a LocalCluster", status="not installed")], [])
        return
    from siamcli import distributed

    rng = np.random.default_rng([SEED, 7])
    with tempfile.TemporaryDirectory(prefix="siamcli-bench-") as tmp:
        whole = np.lib.format.open_memmap(Path(tmp) / "gallery.npy", mode="w+", dtype=np.float32, shape=(nb, d))
        (Path(tmp) / "shards").mkdir()
        edges = [nb * i // n_shards for i in range(n_shards + 1)]
        for i in range(n_shards):  # shard by shard: making the data never holds it all in memory
            part = embeddings(rng, edges[i + 1] - edges[i], d)
            whole[edges[i]:edges[i + 1]] = part
            np.save(Path(tmp) / "shards" / f"part-{i}.npy", part)
        whole.flush()
        del whole
        q = embeddings(rng, nq, d)
        wq = q[:8]
        pattern = str(Path(tmp) / "shards" / "*.npy")
        clients = {workers: distributed.connect(f"local:{workers}") for workers in (1, 2)}
        stats = {workers: distributed.RunStats() for workers in clients}
        try:
            impls = [Impl("siamcli, this process (one memory-mapped .npy)",
                          lambda: siamcli.compare(q, siamcli.load(Path(tmp) / "gallery.npy"), metric="cosine", top_k=k),
                          lambda: siamcli.compare(wq, siamcli.load(Path(tmp) / "gallery.npy"), metric="cosine", top_k=k),
                          canon=lambda r: ranking_topk(r, nq, k))]
            for workers, client in clients.items():
                impls.append(Impl(f"siamcli on a LocalCluster, {workers} worker{'s' if workers > 1 else ''}",
                                  lambda c=client, w=workers: distributed.topk(c, q, pattern, "cosine", k, stats=stats[w]),
                                  lambda c=client: distributed.topk(c, wq, pattern, "cosine", k),
                                  canon=lambda r: ranking_topk(r, nq, k), note="shards read by the workers"))
            bench.section(title)
            results = bench.measure(impls, check_topk, "cluster")
        finally:
            for client in clients.values():
                client.close()
    local = results[0]
    lines = []
    for workers, res in zip(clients, results[1:]):
        if res.ratio is not None:
            lines.append(bench.headline("cluster", f"{workers}w", "LocalCluster time / this process (overhead)",
                                        res.ratio, "x", "none"))
        if stats[workers].tasks:
            lines.append(f"cluster: {workers} worker(s): {stats[workers].tasks} tasks; the client received "
                         f"{stats[workers].received_bytes / 1024:,.0f} KiB (queries x k records; the gallery is "
                         f"{nb * d * 4 / MiB:,.0f} MiB)")
    one, two = results[1].median, results[2].median
    if one and two:
        lines.append(bench.headline("cluster", "", "throughput, 2 workers / 1 worker (2 cores here)", one / two, "x",
                                    "none"))
    if local.median is not None:
        lines.append(bench.headline("cluster", "", "siamcli median time, this process", local.median, "s", "none"))
    bench.table("cluster", title, results, lines)


CASES: dict[str, Callable[[Bench, dict], None]] = {
    "allpairs": case_allpairs, "topk": case_topk, "nonblas": case_nonblas, "paired": case_paired,
    "selfdup": case_selfdup, "mmap": case_mmap, "startup": case_startup, "cluster": case_cluster,
}


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="cases: " + ", ".join(CASE_NAMES))
    parser.add_argument("--quick", action="store_true", help="small sizes; the whole run takes well under a minute")
    parser.add_argument("--case", action="append", metavar="NAME",
                        help="run only this case (repeatable, or comma-separated): " + ", ".join(CASE_NAMES))
    parser.add_argument("--repeat", type=int, metavar="N",
                        help="timed runs per implementation (default 5; at full size 2 for selfdup, 3 for mmap; "
                             "startup runs at least 10)")
    parser.add_argument("--budget", type=float, default=60.0, metavar="SECONDS",
                        help="fewer timed runs for an implementation whose one run takes longer than SECONDS / N "
                             "(at least one run; 0: always N). Default 60")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="threads= for siamcli, passed only if its compare/matrix take it (default: usable cores)")
    parser.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    args = parser.parse_args(argv)
    names = []
    for item in args.case or []:
        names += [n.strip() for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; choose from {', '.join(CASE_NAMES)}")
    args.cases = names or list(CASE_NAMES)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def takes_threads() -> bool:
    return any("threads" in inspect.signature(f).parameters for f in (siamcli.compare, siamcli.matrix))


def print_machine(info: dict[str, Any]) -> None:
    v = info["versions"]
    print("siamcli benchmarks")
    print(f"  machine  {info['cpu']}; {info['cores']} cores ({info['usable_cores']} usable); {info['memory']} RAM; "
          f"load average {', '.join(f'{x:.2f}' for x in info['load_average'] or ())}")
    print(f"  python   {v['python']} on {info['platform']}")
    print(f"  versions siamcli {v['siamcli']} ({info['siamcli_revision']}), numpy {v['numpy']}, scipy {v['scipy']}, "
          f"scikit-learn {v['scikit-learn']}, faiss {v['faiss']}, numba {v['numba']}")
    for n, row in enumerate(info["blas"]):
        print(f"  {'BLAS' if n == 0 else '':8} {row}")
    threads = (f"threads={info['threads_passed']} passed to siamcli" if info["siamcli_threads_keyword"]
               else "siamcli takes no threads= keyword (engine default)")
    print(f"  threads  {threads}; peers use their defaults")
    print(f"  memory   {info['memory_method']}")
    print("  ratio    peer time / siamcli time (> 1: siamcli is faster); results agree when within "
          f"{TOLERANCE:g} x max(1, |score|)")
    print(f"  runs     timed samples; 5x3: each sample the mean of 3 back-to-back calls (calls under "
          f"{MIN_SAMPLE_S * 1e3:.0f} ms)")


def print_summary(summary: list[dict[str, Any]]) -> None:
    print("\nSummary of headline numbers (ratios: larger than 1 means siamcli is faster, except where the line says "
          "'siamcli time / ...')")
    rows = [("case", "", "headline", "value", "target")]
    for s in summary:
        rows.append((s["case"], s["variant"], s["what"], fmt_value(s["value"], s["unit"]), s["target"] or "-"))
    print_rows(rows, right=(3,))


def to_json(obj):
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped to a file
    threads = (args.threads or usable_cpus()) if takes_threads() else None
    bench = Bench(args, threads)
    info = machine_info(threads)
    bench.report["machine"] = info
    bench.report["options"] = {"quick": args.quick, "cases": args.cases, "repeat": args.repeat,
                               "budget_s": args.budget, "threads": threads}
    print_machine(info)
    start = time.perf_counter()
    for name in args.cases:
        size = SIZES[name]["quick" if args.quick else "full"]
        print(f"\n=== {name} ({', '.join(f'{k}={v:,}' for k, v in size.items())})")
        t0 = time.perf_counter()
        try:
            CASES[name](bench, size)
        except MemoryError as exc:
            print(f"  case {name} stopped: {error_text(exc)}")
        gc.collect()
        print(f"  ({name}: {time.perf_counter() - t0:.1f} s)")
    print_summary(bench.report["summary"])
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    print(f"\ntotal {time.perf_counter() - start:.1f} s; load average now {', '.join(f'{x:.2f}' for x in load)}")
    if args.json:
        bench.report["total_s"] = time.perf_counter() - start
        with open(args.json, "w") as f:
            json.dump(to_json(bench.report), f, indent=1)
        print(f"results saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
