"""Run siamcli in a child process and say what came back (the runner of hostile_review.py).

A run is one child process with limits (address space, file size, no core files), in its own
session (so a timeout kills everything it started, Dask workers included), stdout and stderr in
temporary files. `classify` turns the exit status and stderr into facts; `parse_output` reads
stdout in the format asked for and lists what is wrong with it as text (invalid JSON, raw control
characters, CSV that Python's csv cannot read back).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import resource
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

MiB = 2**20
GiB = 2**30
CAPTURE_LIMIT = 256 * MiB  # stdout beyond this is counted, not kept

PY_WARNING = re.compile(r"\b[A-Z]\w*Warning: ")  # Python's warnings (RuntimeWarning: ...); siamcli's own notes say "warning:"
DASK_LOG = re.compile(r" - distributed\.\S+ - (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")
TRACEBACK = "Traceback (most recent call last)"
# Characters a terminal acts on: C0 controls but newline, DEL, C1 controls.
TERMINAL_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f\x80-\x9f]")
JSON_RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # never raw inside valid JSON text; \n ends jsonl lines
LINE_SEPARATORS = re.compile("[\u2028\u2029]")


class _Popen(subprocess.Popen):
    """Popen that keeps the child's resource usage (wait4), for its peak RSS."""

    rusage = None

    def _try_wait(self, wait_flags):
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.rusage = usage
        return pid, status


@dataclass
class Outcome:
    """What one child process did."""

    argv: list[str]
    returncode: int | None  # None: killed at the timeout
    seconds: float
    max_rss: int  # bytes (ru_maxrss of the child itself)
    stdout: bytes
    stderr: bytes
    stdout_size: int
    timeout: float = 0.0

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def _limits(mem_limit: int | None, fsize_limit: int | None):
    def apply():
        # as from an interactive shell: a review started in the background (`&`, nohup) has SIGINT and
        # SIGQUIT ignored, which children inherit and Python keeps, so Ctrl-C would seem unhandled
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if mem_limit:
            resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))
        if fsize_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

    return apply


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass  # the child did not read it all: that is its answer
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the session a run started (the child and anything it spawned)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_or_kill(proc, timeout: float) -> int | None:
    """The child's exit status, or None when it ran past `timeout`; what is left of its session (Dask
    workers, a stuck feeder's reader) is killed either way."""
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.wait()
        code = None
    kill_group(proc.pid)
    return code


def start(argv, cwd, *, mem_limit=None, fsize_limit=None, env=None, stdin=None, stdout=None, stderr=None):
    """Start a child in its own session with the limits; the caller waits."""
    return _Popen(
        argv, cwd=cwd, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=stdout, stderr=stderr, preexec_fn=_limits(mem_limit, fsize_limit), start_new_session=True,
    )


def run(argv, cwd, *, timeout=60.0, mem_limit=4 * GiB, fsize_limit=None, stdin_bytes=None, env=None) -> Outcome:
    """Run argv to the end or to the timeout; kill what is left of its session either way."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = start(argv, cwd, mem_limit=mem_limit, fsize_limit=fsize_limit, env=env,
                     stdin=subprocess.PIPE if stdin_bytes is not None else None, stdout=out, stderr=err)
        feeder = None
        if stdin_bytes is not None:
            feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin_bytes), daemon=True)
            feeder.start()
        code = wait_or_kill(proc, timeout)
        seconds = time.perf_counter() - began
        if feeder is not None:
            feeder.join(5)
        return _collect(argv, code, seconds, proc, out, err, timeout)


def _collect(argv, code, seconds, proc, out, err, timeout) -> Outcome:
    size = out.seek(0, os.SEEK_END)
    out.seek(0)
    err.seek(0)
    rss = proc.rusage.ru_maxrss * 1024 if proc.rusage is not None else 0
    return Outcome(list(argv), code, seconds, rss, out.read(CAPTURE_LIMIT), err.read(CAPTURE_LIMIT), size, timeout)


# ---------------------------------------------------------------- classification

SIGNAL_NAMES = {int(s): s.name for s in signal.Signals}


def status_of(outcome: Outcome) -> str:
    """'exit 0', 'exit 2', 'signal SIGBUS (135)', 'timeout (60 s)'."""
    code = outcome.returncode
    if code is None:
        return f"timeout ({outcome.timeout:g} s)"
    if code < 0:
        return f"signal {SIGNAL_NAMES.get(-code, -code)} ({128 - code})"
    return f"exit {code}"


def status_class(outcome: Outcome) -> str:
    """The column of the totals: 0, 1, 2, 3, other, signal, timeout."""
    code = outcome.returncode
    if code is None:
        return "timeout"
    if code < 0:
        return "signal"
    return str(code) if code in (0, 1, 2, 3) else "other"


def stderr_text(outcome: Outcome) -> str:
    return outcome.stderr.decode("utf-8", "replace")


def clean_error(outcome: Outcome) -> bool:
    """Exit 2 with exactly one line on stderr, starting 'Error: ', and nothing on stdout."""
    if outcome.returncode != 2 or outcome.stdout_size:
        return False
    lines = stderr_text(outcome).rstrip("\n").split("\n")
    return len(lines) == 1 and lines[0].startswith("Error: ")


def stderr_problems(outcome: Outcome) -> list[str]:
    """Kinds of noise on stderr that the standard forbids: tracebacks, Python warnings, Dask logs."""
    text = stderr_text(outcome)
    found = []
    if TRACEBACK in text:
        found.append("traceback")
    if PY_WARNING.search(text):
        found.append("python warning")
    if DASK_LOG.search(text):
        found.append("dask log noise")
    return found


def first_line(text: str, width: int = 150) -> str:
    line = next((s for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= width else line[: width - 3] + "..."


# ---------------------------------------------------------------- output parsing

def _reject_constant(name):
    raise ValueError(f"non-standard JSON token {name}")


def _loads(text: str):
    return json.loads(text, parse_constant=_reject_constant)


@dataclass
class Parsed:
    """stdout read in its format: records (dicts) or None, and what is wrong with the text."""

    records: list | dict | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)


def parse_output(data: bytes, fmt: str) -> Parsed:
    """Read stdout as the format says; problems are (kind, detail) pairs."""
    parsed = Parsed()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        parsed.problems.append(("invalid output encoding", str(exc)))
        return parsed
    if fmt in ("json", "jsonl"):
        _parse_json(text, fmt, parsed)
    elif fmt in ("csv", "tsv"):
        _parse_csv(text, "," if fmt == "csv" else "\t", parsed)
    elif fmt == "table":
        bad = TERMINAL_CONTROL.findall(text)
        if bad:
            parsed.problems.append(("raw control characters in table", _show(bad)))
    return parsed


def _show(chars) -> str:
    unique = sorted(set(chars))
    return f"{len(chars)} x " + " ".join(repr(c) for c in unique[:8])


def _parse_json(text: str, fmt: str, parsed: Parsed) -> None:
    if LINE_SEPARATORS.search(text):
        parsed.problems.append(("raw U+2028/U+2029 in JSON", _show(LINE_SEPARATORS.findall(text))))
    if JSON_RAW_CONTROL.search(text):
        parsed.problems.append(("raw control characters in JSON", _show(JSON_RAW_CONTROL.findall(text))))
    try:
        if fmt == "json":
            parsed.records = _loads(text) if text.strip() else None
        else:
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            parsed.records = [_loads(line) for line in lines]
    except (ValueError, RecursionError) as exc:
        parsed.problems.append(("invalid JSON", str(exc)[:120]))
        parsed.records = None


def _parse_csv(text: str, delimiter: str, parsed: Parsed) -> None:
    if not text:
        parsed.records = []
        return
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        parsed.problems.append(("CSV not readable back", str(exc)[:120]))
        return
    header, body = rows[0], rows[1:]
    ragged = [i + 2 for i, row in enumerate(body) if len(row) != len(header)]
    if ragged:
        parsed.problems.append(("CSV not readable back",
                                f"{len(ragged)} rows of {len(body)} do not have the header's {len(header)} fields (first: row {ragged[0]})"))
        return
    parsed.records = [{"__header__": header}] + [dict(zip(header, row)) for row in body]


def num(value) -> float:
    """A score as a float: JSON null and an empty CSV cell are NaN; text that is no number is NaN too."""
    if value is None or value == "" or isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def truth(value) -> bool | None:
    """A JSON boolean or a CSV 'true'/'false'."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def csv_header(records) -> list[str] | None:
    if records and isinstance(records[0], dict) and "__header__" in records[0]:
        return records[0]["__header__"]
    return None


def csv_rows(records) -> list[dict]:
    return records[1:] if csv_header(records) is not None else records
