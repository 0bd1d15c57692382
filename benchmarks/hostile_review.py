#!/usr/bin/env python3
"""The hostile review of issue 13 as a harness: hostile inputs, options and faults against one siamcli.

    python benchmarks/hostile_review.py --siamcli /path/to/venv/bin/siamcli --label before
    python benchmarks/hostile_review.py --siamcli .venv/bin/siamcli --quick --json out.json

Four sections, each a list of runs of that executable (child processes in a scratch folder, with a
timeout and an address-space limit per run):
  inputs   about 230 generated inputs through eight commands, in every output format in turn
  options  about 150 option cases: nan/inf/negative/huge/junk values, conflicts, unknown choices
  scipy    about 140 checks of scores, top-k sets and verdicts against scipy/longdouble references
  faults   about 30 scenarios: outputs over inputs, signals during -o, concurrent writers, full
           disks, closed pipes, big tables, Dask
Every run has a stated right outcome (a clean exit 2 for bad input; correct results for good
input); the summary counts runs as expected or not, by exit status and by kind of problem, and
lists every run that is not as expected. It is printed and written to
benchmarks/results-hostile-<date>-<label>.txt. The harness needs numpy and scipy, not siamcli.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import datetime
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile_cases as cases  # noqa: E402  (next to this script)
import hostile_commands as commands  # noqa: E402
import hostile_faults as faults  # noqa: E402
import hostile_inputs as inputs  # noqa: E402
import hostile_reference as ref  # noqa: E402
import hostile_texts as texts  # noqa: E402
from hostile_run import GiB, Outcome, Parsed, clean_error, first_line, num, parse_output, run, status_class  # noqa: E402
from hostile_run import status_of, stderr_problems, stderr_text, truth  # noqa: E402

SEED = 20261124
FORMATS = ("jsonl", "json", "csv", "tsv", "table")
SECTIONS = ("inputs", "options", "scipy", "faults")
STATUS_COLUMNS = ("0", "1", "2 clean", "2 unclean", "3", "other", "signal", "timeout")


@dataclass
class Result:
    """One run (or one fault scenario) and how it went against its stated right outcome."""

    section: str
    group: str
    case: str
    expect: str
    command: str  # the command line, paths relative to the scratch folder
    status: str
    status_column: str
    problems: list = field(default_factory=list)  # [(kind, detail)]
    seconds: float = 0.0
    max_rss_mib: float = 0.0
    stderr: str = ""

    @property
    def as_expected(self) -> bool:
        return not self.problems


class Review:
    """The executable, the scratch folder and the settings shared by every section."""

    def __init__(self, args, scratch: Path):
        self.siamcli = str(Path(args.siamcli).resolve()) if os.sep in args.siamcli else shutil.which(args.siamcli)
        self.scratch, self.quick, self.jobs = scratch, args.quick, args.jobs
        self.timeout, self.mem_limit = args.timeout, int(args.mem_limit * GiB)
        self.with_dask, self.seed = args.with_dask, args.seed
        self.env = dict(os.environ, COLUMNS="80", LINES="25", PYTHONWARNINGS="default")
        self.env.pop("SIAMCLI_SCHEDULER", None)
        self.env.pop("SIAMCLI_DEBUG", None)
        self._n = 0
        self.n_inputs = 0
        self.notes: list[str] = []
        self._lock = threading.Lock()

    def out_dir(self) -> Path:
        with self._lock:
            self._n += 1
            path = self.scratch / "out" / f"run{self._n:05d}"
        path.mkdir(parents=True)
        return path

    def run(self, argv, cwd, **kw) -> Outcome:
        kw.setdefault("timeout", self.timeout)
        kw.setdefault("mem_limit", self.mem_limit)
        kw.setdefault("env", self.env)
        return run([self.siamcli, *argv], cwd, **kw)

    def show(self, argv) -> str:
        text = " ".join(_quote(a) for a in ["siamcli", *argv])
        return text.replace(str(self.scratch) + "/", "")


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "-_./:=,@%+" for c in arg):
        return arg
    return repr(arg)


# ---------------------------------------------------------------- judging a run

def judge(outcome: Outcome, expect: str, fmt=None, validate=None, ok_codes=(0,), accepted="bad input accepted") -> list:
    """Problems of a run against its expectation: ok (an answer, checked by validate), error (a clean
    exit 2) or either."""
    problems = [(kind + " on stderr", _noise_line(outcome, kind)) for kind in stderr_problems(outcome)]
    code, clean = outcome.returncode, clean_error(outcome)
    if outcome.timed_out:
        return problems + [("hang (timeout)", f"no exit within {outcome.timeout:g} s")]
    if code < 0:
        return problems + [("killed by a signal", status_of(outcome))]
    if expect == "error" or (expect == "either" and code not in ok_codes):
        if not clean:
            problems.append(_unexpected(outcome, expect, ok_codes, accepted))
        return problems
    if code not in ok_codes:
        return problems + [_unexpected(outcome, expect, ok_codes)]
    parsed = parse_output(outcome.stdout, fmt) if fmt else Parsed()
    problems += parsed.problems
    if validate is not None and not any(k in ("invalid JSON", "CSV not readable back") for k, _ in parsed.problems):
        problems += validate(parsed, outcome)
    return problems


def _noise_line(outcome, kind) -> str:
    text = stderr_text(outcome)
    key = {"traceback": "Error", "python warning": "Warning: ", "dask log noise": "distributed."}[kind]
    lines = [s for s in text.splitlines() if key in s] or text.splitlines()
    return first_line(lines[-1] if kind == "traceback" else lines[0])


def _unexpected(outcome, expect, ok_codes, accepted="bad input accepted") -> tuple[str, str]:
    code = outcome.returncode
    text = stderr_text(outcome)
    line = first_line("\n".join(s for s in text.splitlines() if s.startswith("Error:")) or text) or "(stderr empty)"
    if code == 2 and expect == "ok":
        return "good input refused (exit 2)", line
    if code == 2:
        n = len(stderr_text(outcome).rstrip("\n").split("\n"))
        return "unclean exit 2", f"{n} stderr lines, {outcome.stdout_size} bytes on stdout: {line}"
    if code == 3:
        return "exit 3 (internal error)", line
    if code in ok_codes or code in (0, 1):
        return accepted, f"exit {code} where a clean exit 2 is right, {outcome.stdout_size} bytes on stdout"
    return "unexpected exit status", f"{status_of(outcome)}: {line}"


def result_of(section, group, case, expect, argv, review, outcome, problems) -> Result:
    column = status_class(outcome)
    if column == "2":
        column = "2 clean" if clean_error(outcome) else "2 unclean"
    return Result(section, group, case, expect, review.show(argv), status_of(outcome), column, problems,
                  round(outcome.seconds, 3), round(outcome.max_rss / 2**20, 1), first_line(stderr_text(outcome)))


# ---------------------------------------------------------------- section: generated inputs

def _fifo_writer(path: Path, data: bytes, done: threading.Event) -> None:
    while not done.is_set():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            time.sleep(0.02)  # no reader yet (ENXIO)
            continue
        os.set_blocking(fd, True)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view[: 1 << 16]):]
        except OSError:
            pass  # the reader went away
        finally:
            os.close(fd)
        return


def _input_task(review, ctx_folder, inp, cmd, fmt):
    ctx = commands.Ctx(ctx_folder)
    ctx.out_dir = review.out_dir()
    expect = commands.expectation(inp, cmd.name)
    argv = cmd.argv(inp, fmt, ctx)
    done = threading.Event()
    writer = None
    if inp.fifo is not None:
        writer = threading.Thread(target=_fifo_writer, args=(ctx_folder / inp.name, inp.fifo, done), daemon=True)
        writer.start()
    outcome = review.run(argv, ctx_folder, stdin_bytes=inp.stdin)
    done.set()
    if writer is not None:
        writer.join(5)
    validate = (lambda parsed, out: cmd.validate(inp, parsed, ctx)) if inp.values is not None else None
    problems = judge(outcome, expect, fmt, validate, cmd.ok_codes)
    if cmd.name == "verify" and outcome.returncode == 1 and expect == "ok":
        problems.append(("silent wrong answer", "exit 1: identical pairs judged different"))
    if cmd.name == "matrix-o":
        problems += _output_files(ctx.out_dir, outcome.returncode == 0)
    if inp.max_rss_mib and outcome.max_rss > inp.max_rss_mib * 2**20:
        problems.append(("memory spent before the size check", f"peak RSS {outcome.max_rss / 2**20:.0f} MiB "
                         f"(a {inp.name} of {(ctx_folder / inp.name).stat().st_size / 2**20:.1f} MiB; stated ceiling "
                         f"{inp.max_rss_mib} MiB)"))
    label = f"{inp.note} [{inp.name}]" if inp.name != "-" else inp.note
    return result_of("inputs", inp.group, f"{label}: {cmd.name}" + (f" -f {fmt}" if fmt else ""), expect, argv, review,
                     outcome, problems)


def _output_files(folder: Path, succeeded: bool) -> list:
    names = sorted(p.name for p in folder.iterdir())
    if succeeded:
        extra = [n for n in names if n != "out.npy"]
        return [("stray files left", ", ".join(extra))] if extra else []
    return [("partial file left", ", ".join(names))] if names else []


def make_inputs(review) -> tuple[Path, list]:
    folder = review.scratch / "inputs"
    folder.mkdir()
    maker = inputs.Maker(folder, review.seed, review.quick)
    inputs.numeric(maker)
    inputs.containers(maker)
    texts.texts(maker)
    texts.hostile_ids(maker)
    texts.special(maker, folder)
    return folder, maker.inputs


def section_inputs(review) -> list[Result]:
    began = time.perf_counter()
    folder, items = make_inputs(review)
    review.n_inputs = len(items)
    print(f"  inputs: {len(items)} generated in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    before = _hashes(folder)
    tasks, serial = [], []
    for i, inp in enumerate(items):
        chosen = [c for c in commands.COMMANDS if inp.commands is None or c.name in inp.commands]
        if review.quick:  # two commands per input, in turn; hostile ids: compare in every format
            chosen = [c for c in chosen if c.name == "compare"] if inp.group == "ids" else \
                [chosen[i % len(chosen)], chosen[(i + 3) % len(chosen)]]
        for cmd in chosen:
            c = commands.COMMANDS.index(cmd)
            fmts = [None] if not cmd.formats else (
                list(FORMATS) if inp.group == "ids" and cmd.name in ("compare", "matrix") else [FORMATS[(i + c) % len(FORMATS)]])
            for fmt in fmts:
                (serial if inp.fifo is not None else tasks).append((inp, cmd, fmt))
    results = _pool(review, [lambda t=t: _input_task(review, folder, *t) for t in tasks], "inputs")
    results += [_input_task(review, folder, *t) for t in serial]
    results += _changed(review, "inputs", folder, before)
    return results


def _pool(review, jobs, label) -> list:
    out, began = [], time.perf_counter()
    with futures.ThreadPoolExecutor(review.jobs) as pool:
        pending = [pool.submit(job) for job in jobs]
        for n, fut in enumerate(pending, 1):
            try:
                out.append(fut.result())
            except Exception as exc:  # noqa: BLE001 - a harness bug in one case must not lose the others
                out.append(Result(label, "harness", f"job {n}", "-", "", "-", "-", [("harness error", f"{type(exc).__name__}: {exc}")]))
            if n % 200 == 0:
                print(f"  {label}: {n}/{len(pending)} runs, {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return out


def _hashes(folder: Path) -> dict:
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.is_fifo():
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            found[str(path.relative_to(folder))] = h.hexdigest()
    return found


def _changed(review, section, folder, before) -> list[Result]:
    """Inputs changed or files added in an inputs folder over a whole section."""
    after = _hashes(folder)
    changed = sorted(k for k in before if after.get(k) != before[k])
    added = sorted(k for k in after if k not in before and not k.startswith("_"))
    out = []
    for name in changed:
        out.append(Result(section, "integrity", f"input {name}", "unchanged", "", "-", "-",
                          [("input modified", f"{name} changed during the section")]))
    if added:
        out.append(Result(section, "integrity", "files in the inputs folder", "none added", "", "-", "-",
                          [("stray files left", ", ".join(added[:10]))]))
    return out


# ---------------------------------------------------------------- section: options

def _option_task(review, folder, case):
    out_dir = review.out_dir()
    argv = [str(out_dir) + a[3:] if a.startswith("OUT/") else a for a in case.argv]
    expect = "ok" if case.expect in ("ok", "ok01") else case.expect
    ok_codes = (0, 1) if case.expect == "ok01" else (0,)
    needs_format = argv[0] not in ("--help",) and "-f" not in argv and "-o" not in argv and len(argv) > 1
    argv = argv + (["-f", "jsonl"] if needs_format else [])
    outcome = review.run(argv, folder)
    problems = judge(outcome, expect, "jsonl" if "-f" in argv and argv[argv.index("-f") + 1] == "jsonl" else None,
                     _option_validate, ok_codes)
    return result_of("options", case.group, case.name, case.expect, argv, review, outcome, problems)


def _option_validate(parsed, outcome) -> list:
    recs = parsed.records if isinstance(parsed.records, list) else []
    keys = ("score", "loss", "auc")
    nulls = sum(1 for r in recs if isinstance(r, dict) for k in keys if k in r and r[k] is None)
    return [("silent wrong answer", f"{nulls} null scores, losses or AUCs")] if nulls else []


def section_options(review) -> list[Result]:
    folder = review.scratch / "options"
    folder.mkdir()
    cases.option_files(folder, np.random.default_rng(review.seed + 1))
    before = _hashes(folder)
    jobs = [lambda c=c: _option_task(review, folder, c) for c in cases.option_cases()]
    return _pool(review, jobs, "options") + _changed(review, "options", folder, before)


# ---------------------------------------------------------------- section: checks against scipy

def _scipy_task(review, folder, case: cases.ScipyCase, index: int):
    sub = folder / f"case{index:03d}"
    sub.mkdir()
    a, b = case.a, case.b if case.path != "paired" else case.b[: case.a.shape[0]]
    np.save(sub / "a.npy", a)
    np.save(sub / "b.npy", b)
    values, scales = cases.case_reference(case, a, b)
    precision = "f64" if case.dtype == "f64" else "f32"
    expect = ref.representable(values, precision)
    higher = case.metric in ref.SIMILARITIES
    common = ["-m", case.metric, *case.extra]
    if case.path == "matrix":
        argv = ["matrix", "a.npy", "b.npy", *common, "-f", "json"]
        validate = lambda p, o: _check_matrix(p, values, scales, precision)  # noqa: E731
    elif case.path == "topk":
        argv = ["compare", "a.npy", "b.npy", *common, "-k", "3", "-f", "jsonl"]
        validate = lambda p, o: _check_topk(p, values, scales, higher, precision)  # noqa: E731
    else:
        t = cases.paired_threshold(values, higher)
        argv = ["verify", "a.npy", "b.npy", "--paired", *common, "-t", repr(t), "-f", "jsonl"]
        validate = lambda p, o: _check_paired(p, o, values, scales, t, higher, precision)  # noqa: E731
    outcome = review.run(argv, sub)
    problems = judge(outcome, expect, "json" if case.path == "matrix" else "jsonl", validate,
                     (0, 1) if case.path == "paired" else (0,), accepted="silent wrong answer")
    return result_of("scipy", case.note or case.metric, case.name, expect, argv, review, outcome, problems)


def _check_matrix(parsed, values, scales, precision):
    got = parsed.records.get("values") if isinstance(parsed.records, dict) else None
    if got is None or len(got) != values.shape[0] or any(len(r) != values.shape[1] for r in got):
        return [("silent wrong answer", f"matrix shape differs from {values.shape}")]
    return commands._wrong(ref.check_values([[num(x) for x in r] for r in got], values, scales, precision))


def _check_topk(parsed, values, scales, higher, precision):
    rows: dict = {}
    for r in sorted(parsed.records or [], key=lambda r: (num(r.get("a_index")), num(r.get("rank")))):
        rows.setdefault(int(num(r.get("a_index"))), []).append((int(num(r.get("b_index"))), num(r.get("score"))))
    return commands._wrong(ref.check_ranking(rows, values, scales, 3, higher, precision))


def _check_paired(parsed, outcome, values, scales, t, higher, precision):
    """Scores, and verdicts where the reference is off the threshold by more than the tolerance."""
    recs = parsed.records or []
    problems = ref.check_values([num(r.get("score")) for r in recs], values, scales, precision)
    tol = ref.RTOL[precision] * scales + ref.TINY[precision]
    clear = np.abs(values - ref.LD(t)) > tol
    want = [(v >= t) if higher else (v <= t) for v in values]
    wrong = sum(1 for r, w, c in zip(recs, want, clear) if c and truth(r.get("match")) is not bool(w))
    if wrong:
        problems.append(f"{wrong} of {len(recs)} verdicts wrong at threshold {t:.6g}")
    if np.all(clear):
        code = 0 if all(want) else 1
        if outcome.returncode != code:
            problems.append(f"exit {outcome.returncode}, expected {code}")
    return commands._wrong(problems)


def section_scipy(review) -> list[Result]:
    folder = review.scratch / "scipy"
    folder.mkdir()
    items = cases.scipy_cases(np.random.default_rng(review.seed + 2))
    if review.quick:  # about a third: every other case, and of those only some paired ones
        items = [c for i, c in enumerate(items) if c.path != "paired" or i % 3 == 0][::2]
    return _pool(review, [lambda c=c, i=i: _scipy_task(review, folder, c, i) for i, c in enumerate(items)], "scipy")


# ---------------------------------------------------------------- summary

def summarize(results: list[Result], header: list[str]) -> str:
    lines = header + ["", "== totals (runs; a fault scenario counts as one run)", ""]
    cols = ["section", "cases", "as expected", "not", *[f"exit {c}" if c[0].isdigit() else c for c in STATUS_COLUMNS]]
    rows = []
    for section in [*SECTIONS, "all"]:
        rs = [r for r in results if section in ("all", r.section)]
        if not rs:
            continue
        counts = {c: sum(1 for r in rs if r.status_column == c) for c in STATUS_COLUMNS}
        good = sum(1 for r in rs if r.as_expected)
        rows.append([section, str(len(rs)), str(good), str(len(rs) - good), *[str(counts[c]) for c in STATUS_COLUMNS]])
    lines += _table(cols, rows)
    kinds = sorted({k for r in results for k, _ in r.problems})
    lines += ["", "== problems: runs with each kind (a run can have several)", ""]
    krows = [[k, *[str(sum(1 for r in results if r.section == s and any(k == p for p, _ in r.problems))) for s in SECTIONS],
              str(sum(1 for r in results if any(k == p for p, _ in r.problems)))] for k in kinds]
    lines += _table(["kind", *SECTIONS, "all"], krows) if krows else ["  none"]
    lines += ["", "== every run not as expected, by kind", ""]
    for kind in kinds:
        hits = [(r, d) for r in results for k, d in r.problems if k == kind]
        lines.append(f"[{kind}] {len(hits)}")
        for r, detail in hits:
            lines.append(f"  {r.section:7} {r.case} | {r.status} | {detail}")
            if r.command:
                lines.append(f"          $ {r.command}")
        lines.append("")
    return "\n".join(lines)


def _table(cols, rows) -> list[str]:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    fmt = lambda cells: "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return [fmt(cols), "  " + "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]


def _header(review, args, seconds, counts) -> list[str]:
    try:
        version = subprocess.run([review.siamcli, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        version = f"unknown ({exc})"
    import scipy
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    floor = run(["true"], review.scratch if review.scratch.exists() else None, timeout=10).max_rss / 2**20
    return [
        f"siamcli hostile review ({args.label}, {datetime.date.today().isoformat()})",
        f"  siamcli   {review.siamcli} ({version})",
        f"  machine   {os.cpu_count()} cores, load average {load}; python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}",
        f"  settings  seed {review.seed}, timeout {review.timeout:g} s per run, address space {args.mem_limit:g} GiB per run, "
        f"{review.jobs} jobs{', --quick' if review.quick else ''}{', --with-dask' if review.with_dask else ''}",
        f"  scope     {counts}",
        f"  memory    peak RSS per run from wait4; Linux counts the harness's RSS at fork into it ({floor:.0f} MiB now),"
        " so smaller peaks show as that floor (thresholds far above it are unaffected)",
        f"  took      {seconds / 60:.1f} min",
        *[f"  note      {n}" for n in review.notes],
        f"  command   python benchmarks/hostile_review.py --siamcli {args.siamcli} --label {args.label}"
        + (" --quick" if args.quick else "") + (" --with-dask" if args.with_dask else ""),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--siamcli", required=True, help="the siamcli executable to review")
    p.add_argument("--label", default="run", help="name of this run in the results file (e.g. before, after)")
    p.add_argument("--quick", action="store_true", help="fewer and smaller cases: a few minutes")
    p.add_argument("--json", help="also write every run as JSON here")
    p.add_argument("--section", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    p.add_argument("--with-dask", action="store_true", help="also the slow Dask fault scenarios (local clusters)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per run (default 60)")
    p.add_argument("--mem-limit", type=float, default=4.0, help="address space per run in GiB (default 4)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2); fault scenarios run alone")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--scratch", help="make the scratch folder here (default: the system's temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (to re-run a case by hand)")
    p.add_argument("--results-dir", default=str(Path(__file__).resolve().parent), help="where the results file goes")
    args = p.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="siamcli-hostile-", dir=args.scratch))
    review = Review(args, scratch)
    if not review.siamcli or not os.access(review.siamcli, os.X_OK):
        p.error(f"--siamcli {args.siamcli}: not an executable")
    began = time.perf_counter()
    results: list[Result] = []
    sections = {"inputs": section_inputs, "options": section_options, "scipy": section_scipy, "faults": faults.section_faults}
    try:
        for name in args.section or SECTIONS:
            t = time.perf_counter()
            print(f"section {name} ...", file=sys.stderr)
            got = sections[name](review)
            results += got
            print(f"section {name}: {len(got)} runs in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    finally:
        if not args.keep:
            subprocess.run(["chmod", "-R", "u+rwX", str(scratch)], check=False)
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"scratch kept: {scratch}", file=sys.stderr)
    counts = (f"{review.n_inputs} inputs, {sum(r.section == 'inputs' for r in results)} input runs, "
              f"{sum(r.section == 'options' for r in results)} option cases, {sum(r.section == 'scipy' for r in results)} "
              f"scipy checks, {sum(r.section == 'faults' for r in results)} fault scenarios")
    text = summarize(results, _header(review, args, time.perf_counter() - began, counts))
    out = Path(args.results_dir) / f"results-hostile-{datetime.date.today().isoformat()}-{args.label}.txt"
    out.write_text(text + "\n")
    print(text.split("\n== every run")[0])
    print(f"every run not as expected: {out}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
