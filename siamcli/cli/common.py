"""Steps several commands share: the backend, reading A and B, refusing outputs over inputs, emitting results."""

from __future__ import annotations

import contextlib
import os
import sys

from ..errors import UsageError
from .flags import flag_name
from .terminal import Terminal


def scheduler_address(option: str | None) -> str | None:
    """--scheduler, else $SIAMCLI_SCHEDULER, else None (this process): the one place for it."""
    return option or os.environ.get("SIAMCLI_SCHEDULER") or None


@contextlib.contextmanager
def backend_for(scheduler: str | None, terminal: Terminal, what: str, debug: bool = False, threads: int | None = None):
    """The backend of one command (--scheduler, else $SIAMCLI_SCHEDULER, else this process), with a
    progress bar on stderr fed by its progress callback; a cluster is let go when the command ends.
    Dask's logs and warnings stay silent unless --debug. --threads (this process's) and a cluster
    (whose workers run each block on one thread) do not go together."""
    from ..backends import get_backend

    address = scheduler_address(scheduler)
    if address is not None and threads is not None:
        raise UsageError("--threads sets this process's threads, but the work runs on the cluster of "
                         f"{'--scheduler' if scheduler else '$SIAMCLI_SCHEDULER'}, one thread per task: give the "
                         "cluster more workers (local:N) instead")
    bar = terminal.progress(0, what if address is None else "on the cluster", "pairs" if address is None else "tasks")
    quiet = not (debug or os.environ.get("SIAMCLI_DEBUG"))
    try:
        with get_backend(address, progress=bar if bar.stream is not None else None, quiet=quiet) as backend:
            yield backend
    finally:
        bar.close()


def load_inputs(backend, a_path, b_paths, input_format, key, b_key, ids_a, ids_b, max_input_size, reading=None):
    """A, and B stacked from one or more files (None when no B was given), opened by the backend
    (a cluster's workers read shards and .zarr arrays themselves). `reading`: the table options
    (read_options), each of which must apply to at least one input's format."""
    from ..io import STDIN, stack_embeddings

    reading = dict(reading or {}, unused_options="ignore")

    b_paths = list(b_paths or [])
    if [a_path, *b_paths].count(STDIN) > 1:
        raise UsageError("only one input can be '-' (stdin)")
    if b_key is not None and not b_paths:
        raise UsageError("--b-key needs a second input B")
    if ids_b is not None and len(b_paths) != 1:
        raise UsageError("--b-ids needs exactly one second input B" if b_paths else "--b-ids needs a second input B")
    a = backend.open(a_path, input_format=input_format, key=key, ids_path=ids_a, max_input_size=max_input_size,
                     **reading)
    sets = [backend.open(path, input_format=input_format, key=b_key or key, ids_path=ids_b,
                         max_input_size=max_input_size, **reading) for path in b_paths]
    check_read_options([a, *sets], reading, key=key, b_key=b_key)
    if not b_paths:
        return a, None
    for path, s in zip(b_paths, sets):
        if len(sets) > 1 and type(s.vectors).__module__.startswith("dask"):
            raise UsageError(f"{path} is read by the workers, in blocks: give it as the only B, not one of several")
    return a, stack_embeddings(sets)


def check_read_options(sets, reading: dict, **keys) -> None:
    """Refuses a table option (or --key) that no input's format takes, and --show of a field that
    no input has: a typo or a wrong file must not pass unnoticed."""
    from ..io import FORMATS

    formats = {s.format for s in sets if s.format is not None}
    if not formats:
        return  # read by a cluster's workers: shards and .zarr arrays take no options
    given = {name: value for name, value in {**reading, **keys}.items()
             if value and name in ("column", "columns", "id_column", "key", "b_key")}
    for name in given:
        option = "key" if name == "b_key" else name
        if not any(option in FORMATS[f].options for f in formats):
            takers = [f.name for f in FORMATS.values() if option in f.options]
            raise UsageError(f"{flag_name(name)} does not apply to {' or '.join(sorted(formats))} inputs "
                             f"(it does to {', '.join(takers)})")
    from ..io.textcells import excerpt

    for field in reading.get("fields", ()):
        if not any(s.fields and field in s.fields for s in sets):
            raise UsageError(f"--show {excerpt(field)}: no input has a text column of that name")


def check_outputs(output: tuple[str, str | None], *inputs: str | None, **named: str | None) -> None:
    """Refuses, before any work, an output (flag, path) that is one of the inputs or holds one:
    the positional inputs, and the files of the options named (ids='--ids', b_ids='--b-ids', ...)."""
    from ..files import check_outputs as refuse_outputs_over_inputs

    labelled = [("input", path) for path in inputs] + [(flag_name(k), v) for k, v in named.items()]
    refuse_outputs_over_inputs([output], labelled)


def check_plot(plot: str | None, *inputs: str | None, **named: str | None) -> None:
    """--plot: matplotlib and a known suffix, a folder to write in, and not an input."""
    if plot is None:
        return
    from ..files import check_target
    from ..reports.plots import check_plot_path

    check_plot_path(plot)
    check_target(plot)
    check_outputs(("--plot", plot), *inputs, **named)


def check_report(report: str | None, *inputs: str | None, **named: str | None) -> None:
    """--report: an .html name, a folder to write in, and not an input (nor the --plot file)."""
    if report is None:
        return
    from ..files import check_target
    from ..reports.pages import REPORT_SUFFIXES

    if os.path.splitext(report)[1].lower() not in REPORT_SUFFIXES:
        raise UsageError(f"--report {report}: an HTML report's name ends in {' or '.join(REPORT_SUFFIXES)}")
    check_target(report)
    check_outputs(("--report", report), *inputs, **named)


def command_line() -> str:
    """The command line that is running, shell-quoted, as `siamcli ...` (what made a report)."""
    import shlex

    import click

    ctx = click.get_current_context(silent=True)
    argv = ctx.meta.get("siamcli.argv") if ctx is not None else None
    return shlex.join(argv or ["siamcli", *sys.argv[1:]])


def save_report(result, report: str | None, precision: int, terminal: Terminal) -> None:
    """--report: the result's HTML page, and a note saying where it is."""
    if report is None:
        return
    from ..reports.pages import write_report

    write_report(report, result, command_line(), precision)
    terminal.note(f"wrote {report}")


def emit(parts, fmt, precision, terminal: Terminal) -> None:
    """Hands a result to output: -f, else a table on a terminal and jsonl otherwise."""
    from ..output import OutputOptions, default_format, write

    out = sys.stdout
    write(parts, fmt or default_format(out), out, OutputOptions(precision=precision, notify=terminal.note,
                                                                       width=terminal.width))




def given_options(*names: str) -> set[str]:
    """Which of these parameters the command line (or the environment) set, rather than their defaults."""
    import click
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return {name for name in names
            if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}


def refuse_conflicts(rules) -> None:
    """A UsageError for the first rule whose options were all given (see given_options): each rule
    is (parameter names, why they do not go together), e.g. (("paired", "top_k"), "...")."""
    import click

    explicit = given_options(*{name for names, _ in rules for name in names})
    flags = {p.name: max(p.opts, key=len) for p in click.get_current_context().command.params if p.opts}
    for names, why in rules:
        if all(name in explicit for name in names):
            raise UsageError(" and ".join(flags.get(n, flag_name(n)) for n in names) + f" do not go together: {why}")
