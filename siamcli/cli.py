"""The command line: thin click commands over the library. Parse options, call, hand results to output.

Exit status: 0 success; 1 a requested condition was not met (later commands); 2 bad usage or
bad input (one line `Error: ...` on stderr); 3 an internal error (a bug: rerun with --debug).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time

import click

from . import __version__
from .errors import ShapeError, SiamError, UsageError
from .io import FORMATS
from .output import FORMATTERS, safe_text

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_BROKEN_PIPE = 141  # as a Unix tool killed by SIGPIPE: `siamcli ... | head`
INPUT_FORMATS = tuple(FORMATS)  # the one table of loaders


class InputFormatChoice(click.Choice):
    """--input-format's choices, read from the table of formats when used: a format registered
    at run time is accepted at once."""

    def __init__(self):
        super().__init__(())

    @property
    def choices(self):
        return tuple(FORMATS)

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ sets it; the table is the one truth
        pass


#: A library parameter -> the flag that sets it, where it is not `--` and the name with dashes.
FLAGS = {"output": "-o"}


def flag_name(param: str) -> str:
    """The flag a library parameter is set by: the one place parameters become flags."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


class Terminal:
    """Everything a person reads on stderr: notes, warnings, errors, progress. Never stdout."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def note(self, message: str) -> None:
        if not self.quiet:
            click.echo(safe_text(message), err=True)  # ids and file names echoed: escape sequences shown, not run

    def error(self, message: str) -> None:
        click.echo(f"Error: {safe_text(message)}", err=True)

    def progress(self, total: int, what: str, unit: str = "pairs") -> "ProgressBar":
        stream = sys.stderr
        shown = not self.quiet and getattr(stream, "isatty", lambda: False)()
        return ProgressBar(total, what, stream if shown else None, unit=unit)


class ProgressBar:
    """A rich progress bar on stderr (rate and ETA), shown only once work has taken a second."""

    DELAY_SECONDS = 1.0

    def __init__(self, total: int, what: str, stream, clock=time.monotonic, unit: str = "pairs"):
        self.total, self.what, self.stream, self.clock, self.unit = total, what, stream, clock, unit
        self.started = clock()
        self.done = 0
        self.bar = None
        self.closed = False  # once closed, late updates (a watcher thread) draw nothing

    def __call__(self, pairs: int, total: int | None = None) -> None:
        """`pairs` more done (tasks, on a cluster); `total`, when given, the new total."""
        self.done += pairs
        if total is not None:
            self.total = total
        if self.stream is None or self.closed:
            return
        if self.bar is None:
            if self.clock() - self.started < self.DELAY_SECONDS:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
            from rich.text import Text

            class Rate(ProgressColumn):
                def render(self, task):
                    return Text(f"{task.speed:,.0f} {unit}/s" if task.speed else "")

            unit = self.unit
            # only ever made for a terminal (see Terminal.progress), so render as one
            console = Console(file=self.stream, markup=False, highlight=False, force_terminal=True)
            self.bar = Progress(TextColumn(self.what), BarColumn(), MofNCompleteColumn(), Rate(),
                                TimeRemainingColumn(), console=console, transient=True)
            self.task = self.bar.add_task(self.what, total=self.total, completed=self.done)
            self.bar.start()
        self.bar.update(self.task, completed=self.done, total=self.total)

    def close(self) -> None:
        self.closed = True
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class SiamGroup(click.Group):
    """Runs a command and turns every failure into one stderr line and an exit status."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in args or bool(os.environ.get("SIAMCLI_DEBUG"))
        _buffer_stdout()
        terminal = Terminal()
        try:
            with _stopping_on_signals():
                result = super().main(args, prog_name or "siamcli", complete_var, standalone_mode=False, **extra)
                sys.stdout.flush()
            code = result if isinstance(result, int) else 0
        except Stopped as exc:  # a signal: clean-up (temporaries) has run on the way here
            if getattr(sys.stderr, "isatty", lambda: False)():
                click.echo(err=True)  # after the terminal's ^C
            terminal.error(exc.message)
            code = exc.exit_code
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:  # bare `siamcli`: the help, intact
            click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message(), err=True)
            code = EXIT_BAD_INPUT
        except click.exceptions.UsageError as exc:
            if debug:
                _print_traceback()
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            terminal.error(" ".join(exc.format_message().split()) + hint)
            code = EXIT_BAD_INPUT
        except SiamError as exc:
            if debug:
                _print_traceback()
            terminal.error(" ".join(exc.render(flag_name).split()))
            code = EXIT_BAD_INPUT
        except BrokenPipeError:
            _silence_stdout()
            code = EXIT_BROKEN_PIPE
        except (click.exceptions.Abort, KeyboardInterrupt):
            terminal.error("interrupted")
            code = 128 + signal.SIGINT
        except MemoryError as exc:  # what and how big (numpy: "Unable to allocate 7.5 GiB for an array ...")
            if debug:
                _print_traceback()
            what = " ".join(str(exc).split())
            terminal.error(f"out of memory{': ' + what if what else ''}; try a smaller --top-k or --memory, "
                           "a --threshold, or -o FILE for a large matrix")
            code = EXIT_BAD_INPUT
        except Exception as exc:  # a bug: say so in one line unless --debug
            if debug:
                raise
            terminal.error(f"internal error: {exc.__class__.__name__}: {exc} (rerun with --debug for the traceback)")
            code = EXIT_INTERNAL
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx):
        # Here, not in main: click's own main turns a broken pipe into exit 1, our "condition not met".
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _silence_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except KeyboardInterrupt:  # not click's Abort, which prints a blank line first
            raise Stopped(signal.SIGINT) from None


class Stopped(BaseException):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP): raised in the main thread, so
    every `with` and `finally` on the way out runs (temporaries removed); exit 128 + signal."""

    MESSAGES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
    EXIT_CODES = {128 + int(s) for s in MESSAGES}

    def __init__(self, signum: int):
        super().__init__(signum)
        self.message = self.MESSAGES.get(signum, f"stopped by signal {signum}")
        self.exit_code = 128 + int(signum)


@contextlib.contextmanager
def _stopping_on_signals():
    """SIGTERM and SIGHUP raise Stopped in the main thread while a command runs (as SIGINT raises
    KeyboardInterrupt); a second one ends the process at once. A signal ignored (nohup) stays so."""
    previous = {}

    def stop(signum, frame):
        for sig in previous:  # clean-up runs once; a second signal is not caught
            signal.signal(sig, signal.SIG_DFL)
        raise Stopped(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, stop)
        except ValueError:  # not the main thread (siamcli called from a thread): signals stay as they are
            break
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_now_if_threads_linger(code: int) -> None:
    """After a signal, exit at once rather than wait for worker threads to finish the work they
    were given (a block of a large matrix takes seconds); clean-up has run on the way here."""
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _print_traceback() -> None:
    import traceback  # only for --debug: not loaded on every start

    traceback.print_exc()


def _buffer_stdout() -> None:
    """Give an unbuffered stdout (PYTHONUNBUFFERED, python -u) a buffer again, flushed at each line:
    unbuffered, a write cut short by a closed pipe loses the rest without an error (exit 0 after
    `| head -c 100`); buffered, the rest is retried and raises BrokenPipeError (exit 141)."""
    stream = sys.stdout
    if os.name != "posix" or not isinstance(getattr(stream, "buffer", None), io.FileIO):
        return
    raw = io.FileIO(stream.fileno(), "w", closefd=False)  # closing this wrapper leaves fd 1 open
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(raw), encoding=stream.encoding, errors=stream.errors,
                                  newline="\n", line_buffering=True)


def _silence_stdout() -> None:
    """After the reader of stdout went away: point stdout at devnull so exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


# ---------------------------------------------------------------- option types and shared options


class CountOrAll(click.ParamType):
    """A positive whole number, or 'all'."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        if str(value).lower() == "all":
            return "all"
        try:
            number = int(value)
        except ValueError:
            self.fail(f"expected a whole number or 'all', got '{value}'", param, ctx)
        if number < 1:
            self.fail(f"must be at least 1, got {number}", param, ctx)
        return number


class Number(click.ParamType):
    """A finite decimal number (nan and inf are refused; `allow_inf` accepts inf, as minkowski's p)."""

    name = "NUMBER"

    def __init__(self, allow_inf: bool = False):
        self.allow_inf = allow_inf

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, float):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"expected a number, got '{value}'", param, ctx)
        if number != number or (number in (float("inf"), float("-inf")) and not self.allow_inf):
            self.fail(f"expected a finite number, got '{value}'", param, ctx)
        return number


class FormatChoice(click.Choice):
    """-f: the formats of output.FORMATTERS as they are when used, so that a format added at run
    time (output.register_format) is offered by every command."""

    def __init__(self):
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(FORMATTERS)

    @choices.setter
    def choices(self, value) -> None:
        pass  # always the live table


class Size(click.ParamType):
    """A size in bytes written as 512M, 2G, 1.5GiB or a plain number of bytes."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        from .engine import parse_size

        try:
            return parse_size(value)
        except UsageError as exc:
            self.fail(exc.render(flag_name), param, ctx)


def _options(*decorators):
    """One decorator applying several click options, in the order listed (as in --help)."""

    def apply(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


#: -f/--format, --precision and --debug, the same on every command.
output_options = _options(
    click.option("-f", "--format", "fmt", type=FormatChoice(), default=None,
                 help="Output format. Default: table on a terminal, jsonl otherwise."),
    click.option("--precision", type=click.IntRange(0, 17), default=4, show_default=True,
                 help="Decimals shown in tables (machine formats keep full precision)."),
    click.option("--debug", is_flag=True, help="Show Python tracebacks on errors."),
)

def metric_param_options(command):
    """An option per parameter of every metric registered when the commands are built (--p,
    --cov-from, ...), made from the metrics' Param records; the command takes them as **metric_params.
    Entry-point plugins are not loaded for this: importlib.metadata would cost every start-up."""
    from .metrics import metric_params

    for name, (param, _) in reversed(list(metric_params(plugins=False).items())):
        kind = click.Path() if param.kind == "data" else Number(allow_inf=param.allow_inf)
        command = click.option(flag_name(name), name, type=kind, default=None, help=param.help)(command)
    return command


def _data_params(values: dict) -> dict:
    """The metric parameters given that name files (cov_from), which outputs must not overwrite."""
    from .metrics import metric_params

    specs = metric_params(plugins=False)
    return {k: v for k, v in values.items() if k in specs and specs[k][0].kind == "data"}


#: The metric and how it treats the inputs.
metric_options = _options(
    click.option("-m", "--metric", default="cosine", show_default=True,
                 help="Metric name or alias; 'siamcli metrics' lists them."),
    metric_param_options,
    click.option("--normalize", is_flag=True, help="L2-normalise every vector before the metric."),
    click.option("--zero-vector", type=click.Choice(["error", "nan", "zero"]), default="error", show_default=True,
                 help="Vectors where the metric is undefined (zero vectors for cosine): stop with an error, "
                      "score NaN (null in JSON), or score the metric's neutral value (cosine 0)."),
)

#: How much one input may bring into memory.
max_input_option = click.option(
    "--max-input-size", type=Size(), default="2G",
    help="Most bytes one input may bring into memory: stdin, pipes, text files, decompressed .gz "
         "and .npz members (default 2G; a .npy file is checked against its header instead).")

#: How to read A and B.
input_options = _options(
    click.option("--input-format", type=InputFormatChoice(), default=None,
                 help="Format of the inputs when the suffix does not say (needed rarely for '-', stdin)."),
    click.option("--key", default=None, help="Array to use from an .npz A (default: the only one, or 'embeddings')."),
    click.option("--b-key", default=None, help="Array to use from an .npz B (default: as --key)."),
    click.option("--ids", "ids_a", type=click.Path(), default=None, help="Row ids of A, one per line."),
    click.option("--b-ids", "ids_b", type=click.Path(), default=None, help="Row ids of B, one per line."),
    max_input_option,
)

#: -q/--quiet, on every command.
quiet_option = click.option("-q", "--quiet", is_flag=True,
                            help="No progress bar and no notes on stderr (errors still show).")

#: How much memory and how many threads the computation may use; --quiet.
engine_options = _options(
    click.option("--memory", type=Size(), default="512M", show_default=True,
                 help="Working memory beyond the inputs (e.g. 256M, 2G); work runs in blocks that fit."),
    click.option("--threads", type=click.IntRange(1, None), default=None,
                 help="Threads for BLAS and the kernels (default: every core)."),
    quiet_option,
)


#: Run on a Dask cluster (the `dask` extra).
scheduler_option = click.option(
    "--scheduler", default=None,
    help="Run on a Dask cluster: a scheduler address (tcp://host:8786; trusted like code: see the README), or "
         "local[:N] for N worker processes here. Default: $SIAMCLI_SCHEDULER, else this process. A run fails "
         "once the cluster has had no worker for 30 s ($SIAMCLI_NO_WORKERS_TIMEOUT). Needs siamcli[dask].")


def _scheduler(option: str | None) -> str | None:
    return option or os.environ.get("SIAMCLI_SCHEDULER") or None


@contextlib.contextmanager
def _backend(scheduler: str | None, terminal: Terminal, what: str, debug: bool = False):
    """The backend of one command (--scheduler, else $SIAMCLI_SCHEDULER, else this process), with a
    progress bar on stderr fed by its progress callback; a cluster is let go when the command ends.
    Dask's logs and warnings stay silent unless --debug."""
    from .backends import get_backend

    address = _scheduler(scheduler)
    bar = terminal.progress(0, what if address is None else "on the cluster", "pairs" if address is None else "tasks")
    quiet = not (debug or os.environ.get("SIAMCLI_DEBUG"))
    try:
        with get_backend(address, progress=bar if bar.stream is not None else None, quiet=quiet) as backend:
            yield backend
    finally:
        bar.close()


def _load_inputs(backend, a_path, b_paths, input_format, key, b_key, ids_a, ids_b, max_input_size):
    """A, and B stacked from one or more files (None when no B was given), opened by the backend
    (a cluster's workers read shards and .zarr arrays themselves)."""
    from .io import STDIN, stack_embeddings

    b_paths = list(b_paths or [])
    if [a_path, *b_paths].count(STDIN) > 1:
        raise UsageError("only one input can be '-' (stdin)")
    if ids_b is not None and len(b_paths) != 1:
        raise UsageError("--b-ids needs exactly one second input B" if b_paths else "--b-ids needs a second input B")
    a = backend.open(a_path, input_format=input_format, key=key, ids_path=ids_a, max_input_size=max_input_size)
    if not b_paths:
        return a, None
    sets = [backend.open(path, input_format=input_format, key=b_key or key, ids_path=ids_b,
                         max_input_size=max_input_size) for path in b_paths]
    for path, s in zip(b_paths, sets):
        if len(sets) > 1 and type(s.vectors).__module__.startswith("dask"):
            raise UsageError(f"{path} is read by the workers, in blocks: give it as the only B, not one of several")
    return a, stack_embeddings(sets)


def _check_outputs(output: tuple[str, str | None], *inputs: str | None, **named: str | None) -> None:
    """Refuses, before any work, an output (flag, path) that is one of the inputs or holds one:
    the positional inputs, and the files of the options named (ids='--ids', b_ids='--b-ids', ...)."""
    from .files import check_outputs

    labelled = [("input", path) for path in inputs] + [("--" + k.replace("_", "-"), v) for k, v in named.items()]
    check_outputs([output], labelled)


def _check_plot(plot: str | None, *inputs: str | None, **named: str | None) -> None:
    """--plot: matplotlib and a known suffix, a folder to write in, and not an input."""
    if plot is None:
        return
    from .files import check_target
    from .plots import check_plot_path

    check_plot_path(plot)
    check_target(plot)
    _check_outputs(("--plot", plot), *inputs, **named)


def _emit(parts, fmt, precision, terminal: Terminal) -> None:
    from .output import OutputOptions, default_format, write

    out = sys.stdout
    write(parts, fmt or default_format(out), out, OutputOptions(precision=precision, notify=terminal.note))


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=SiamGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="siamcli")
def cli():
    """Compare embeddings: distances, nearest neighbours, similarity matrices, and how good a
    Siamese or metric-learning model's embeddings are.

    \b
    Examples:
      siamcli compare examples/queries.csv examples/gallery.npz --top-k 3
      siamcli compare a.npy b.npy --metric euclidean -f json | jq '.[0]'
      siamcli matrix a.npy -o distances.npy --metric euclidean
      siamcli evaluate emb.npy --pairs pairs.csv --metric all
      siamcli inspect emb.npy --classes labels.txt
      siamcli metrics
    """


@cli.command(context_settings=CONTEXT)
@click.argument("a")
@click.argument("b", nargs=-1)
@click.option("-k", "--top-k", type=CountOrAll(), default=None,
              help="Best rows of B kept for each row of A (default 5; 'all' for every row).")
@click.option("--limit", type=CountOrAll(), default=None,
              help="Instead of per-row lists, the N best pairs overall ('all' for every pair).")
@click.option("-t", "--threshold", type=Number(), default=None,
              help="Keep only pairs at least this close: similarity >= T, distance <= T.")
@click.option("--paired", is_flag=True, help="Score row i of A against row i of B (same row counts).")
@click.option("--pairs", "pairs_path", type=click.Path(), default=None,
              help="Score only the (a, b) pairs listed in this CSV/TSV: ids or row numbers, one pair per line.")
@metric_options
@input_options
@engine_options
@scheduler_option
@output_options
def compare(a, b, top_k, limit, threshold, paired, pairs_path, metric, normalize, zero_vector,
            input_format, key, b_key, ids_a, ids_b, max_input_size, memory, threads, quiet, scheduler, fmt, precision,
            debug, **metric_params):
    """Compare the vectors of A with those of B (or of A with itself), best first.

    Two single vectors give one score. Otherwise each row of A gets its --top-k best rows of B
    (ties broken by row index), or --limit gives the best pairs overall. Without B, A is compared
    with itself: self-pairs are left out, and with --limit each unordered pair appears once
    (near-duplicate search). A and B are files (.npy .npz .csv .tsv .txt .jsonl .json, also
    gzipped) or '-' for stdin; B may be several files, stacked, with ids that name the file.

    \b
    Examples:
      siamcli compare examples/queries.csv examples/gallery.npz -k 3
      siamcli compare a.npy b.npy --metric euclidean
      siamcli compare left.npy right.npy --paired -f csv
      siamcli compare ref.npy faces/*.npy -k 3                 # one run for a whole folder
      siamcli compare a.npy b.npy --pairs pairs.csv             # only the listed pairs
      siamcli compare emb.npy --limit all --threshold 0.98      # near-duplicates
      siamcli compare q.npy g.npy -f jsonl | jq -r 'select(.rank == 1) | .b_id'
    """
    from . import engine

    terminal = Terminal(quiet)
    if top_k is not None and limit is not None:
        raise UsageError("choose either --top-k (per row of A) or --limit (overall), not both")
    top_k = 5 if top_k is None else (None if top_k == "all" else top_k)
    engine.set_threads(threads)
    with _backend(scheduler, terminal, "comparing", debug) as backend:
        a_set, b_set = _load_inputs(backend, a, b, input_format, key, b_key, ids_a, ids_b, max_input_size)
        if paired and b_set is None:
            raise UsageError("--paired needs two inputs, A and B")
        if paired and pairs_path is not None:
            raise UsageError("choose either --paired (row i with row i) or --pairs FILE (the listed pairs)")
        comp = backend.prepare(a_set, b_set, metric=metric, **metric_params, normalize=normalize,
                               zero_vector=zero_vector, memory=memory, notify=terminal.note)
        pairs = None
        if pairs_path is not None:
            from .io import read_pairs

            pairs = read_pairs(pairs_path, comp.a, comp.b, max_input_size=max_input_size)
        _emit(backend.results(comp, top_k=top_k, limit=limit, threshold=threshold, paired=paired, pairs=pairs),
              fmt, precision, terminal)


EXIT_NOT_MET = 1


@cli.command(context_settings=CONTEXT)
@click.argument("a")
@click.argument("b")
@click.option("-t", "--threshold", type=Number(), required=True,
              help="Same when at least this close: similarity >= T, distance <= T.")
@click.option("--paired", is_flag=True, help="Judge row i of A with row i of B (same row counts).")
@click.option("--pairs", "pairs_path", type=click.Path(), default=None,
              help="Judge only the (a, b) pairs listed in this CSV/TSV: ids or row numbers, one pair per line.")
@metric_options
@input_options
@engine_options
@output_options
def verify(a, b, threshold, paired, pairs_path, metric, normalize, zero_vector,
           input_format, key, b_key, ids_a, ids_b, max_input_size, memory, threads, quiet, fmt, precision, debug,
           **metric_params):
    """Judge pairs same or different: exit 0 when every pair matches, 1 when any does not.

    A pair matches when its score is at least as close as --threshold in the metric's own
    direction (cosine >= T, euclidean <= T); an undefined score (NaN) never matches. Pairs are
    the two vectors of single-vector files, row i with row i (--paired), the pairs a file lists
    (--pairs), or every row of one file with the single vector of the other. Each verdict is
    printed with its score; JSON records carry "match": true|false beside compare's keys.
    Bad input exits 2, so shell scripts can tell "different" from "broken".

    \b
    Examples:
      siamcli verify probe.npy enrolled.npy --metric cosine --threshold 0.6
      siamcli verify a.npy b.npy -t 0.6 -q -f jsonl > /dev/null && echo same
      siamcli verify left.npy right.npy --paired -t 1.1 --metric euclidean -f csv
    """
    from . import engine

    terminal = Terminal(quiet)
    if paired and pairs_path is not None:
        raise UsageError("choose either --paired (row i with row i) or --pairs FILE (the listed pairs)")
    from .backends import LocalBackend

    engine.set_threads(threads)
    bar = terminal.progress(0, "verifying")
    backend = LocalBackend(bar if bar.stream is not None else None)
    a_set, b_set = _load_inputs(backend, a, [b], input_format, key, b_key, ids_a, ids_b, max_input_size)
    comp = backend.prepare(a_set, b_set, metric=metric, **metric_params, normalize=normalize,
                           zero_vector=zero_vector, memory=memory, notify=terminal.note)
    listed = None
    if pairs_path is not None:
        from .io import read_pairs

        listed = read_pairs(pairs_path, comp.a, comp.b, max_input_size=max_input_size)
    pairs = engine.verdict_pairs(comp, paired, listed)
    bar(0, len(comp.a) if pairs is None else len(pairs[0]))
    counts = {"pairs": 0, "different": 0}

    def counted(parts):
        for part in parts:
            counts["pairs"] += len(part)
            counts["different"] += int((~part.match).sum())
            yield part

    try:
        _emit(counted(engine.verify(comp, threshold, paired=paired, pairs=pairs)),
              fmt, precision, terminal)
    finally:
        bar.close()
    if counts["different"]:
        terminal.note(f"{counts['different']} of {counts['pairs']} pairs do not match")
        return EXIT_NOT_MET
    return 0


class NumberList(click.ParamType):
    """A comma list of numbers: 0.1,0.01 or 1,5,10."""

    name = "LIST"

    def __init__(self, kind=float):
        self.kind = kind

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        items = value.split(",")
        try:  # an empty item ('', '1,,2') is a typo, not "nothing here"
            numbers = tuple(self.kind(x) for x in items) if all(x.strip() for x in items) else (float("nan"),)
        except ValueError:
            numbers = (float("nan"),)
        if any(x != x or x in (float("inf"), float("-inf")) for x in numbers):
            self.fail(f"expected a comma list of finite {'whole ' if self.kind is int else ''}numbers, got '{value}'",
                      param, ctx)
        return numbers


@cli.command(context_settings=CONTEXT)
@click.argument("emb")
@click.argument("right", required=False)
@click.option("--labels", "labels_path", type=click.Path(), default=None,
              help="With LEFT RIGHT: the label of each pair (row i with row i), one per line or a CSV column.")
@click.option("--pairs", "pairs_path", type=click.Path(), default=None,
              help="Labelled pairs: a CSV/TSV with columns left, right, label (ids or row numbers), as LFW's lists.")
@click.option("--classes", "classes_path", type=click.Path(), default=None,
              help="A class per row of EMB (one per line or a CSV column): pairs of the same class are positive.")
@click.option("--labels-column", default=None,
              help="Column (CSV header), field (JSON) or array (.npz) holding the labels: of the --labels file, "
                   "or of LEFT itself when no --labels file is given.")
@click.option("--classes-column", default=None,
              help="As --labels-column, for the classes: of the --classes file, or of EMB itself.")
@click.option("--sample", type=click.IntRange(2, None), default=None,
              help="With --classes: a balanced random sample of N pairs (half same, half different) instead of all.")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True, help="Seed of --sample and of the folds.")
@click.option("--positive-label", default="1", show_default=True,
              help="The label value meaning 'same' (1 also accepts 1/0, 1/-1, true/false, same/different).")
@click.option("-m", "--metric", default="cosine", show_default=True,
              help="A metric, a comma list, or 'all': each is evaluated and ranked by AUC.")
@click.option("--normalize", is_flag=True, help="Also evaluate every metric after L2 normalisation, side by side.")
@click.option("--folds", type=click.IntRange(2, None), default=10, show_default=True,
              help="Folds of the cross-validated accuracy.")
@click.option("--far", "fars", type=NumberList(float), default="0.1,0.01,0.001", show_default=True,
              help="False accept rates at which to report the true accept rate.")
@click.option("--recall-k", "ks", type=NumberList(int), default="1,5,10", show_default=True,
              help="k of recall@k (with --classes).")
@click.option("--fail-under", default=None,
              help="Exit 1 unless the best metric meets these, e.g. auc=0.95,eer=0.05,tar@0.001=0.8.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Save the ROC curves and score histograms as an image (.png .svg .pdf; needs siamcli[plot]).")
@metric_param_options
@click.option("--zero-vector", type=click.Choice(["error", "nan", "zero"]), default="error", show_default=True,
              help="Vectors where a metric is undefined: an error, NaN scores, or the metric's neutral value.")
@input_options
@engine_options
@scheduler_option
@output_options
def evaluate(emb, right, labels_path, pairs_path, classes_path, labels_column, classes_column, sample, seed,
             positive_label, metric, normalize, folds, fars, ks, fail_under, plot, zero_vector,
             input_format, key, b_key, ids_a, ids_b, max_input_size, memory, threads, quiet, scheduler, fmt, precision,
             debug, **metric_params):
    """How well a metric separates same from different pairs: ROC AUC, EER, accuracy, TAR@FAR.

    \b
    Pairs and their labels come from one of:
      EMB RIGHT --labels FILE    row i of EMB with row i of RIGHT, a label per pair
      EMB --pairs PAIRS.csv      listed pairs: left, right, label (ids or row numbers)
      EMB --classes FILE         every pair of rows (or --sample N), same class = positive;
                                 adds retrieval scores: precision@1, recall@k, mAP@R

    Labels must be two-valued; --positive-label names "same". Thresholds come from the observed
    scores and are in the metric's units: same when distance <= T, or similarity >= T.
    AUC counts ties half; EER is where FPR = 1 - TPR, FPR interpolated linearly between the two
    bracketing ROC points; TAR at FAR x is the largest TPR among ROC points with FPR <= x (no
    interpolation; a FAR below 1/negatives is reported as not reachable); best accuracy comes
    with every threshold that reaches it; cv_accuracy picks the threshold on k-1 folds and
    measures it on the held-out fold (the LFW protocol). mAP@R follows Musgrave et al. 2020.

    \b
    Examples:
      siamcli evaluate examples/siamese/test_embeddings.npy --pairs examples/siamese/test_pairs.csv -m euclidean
      siamcli evaluate emb.npy --classes labels.txt --metric all
      siamcli evaluate left.npy right.npy --labels same.txt --fail-under auc=0.95 -q
      siamcli evaluate emb.csv --classes-column person --sample 100000 --plot roc.png
    """
    from . import engine
    from .evaluation import check_fail_under, evaluate as evaluate_embeddings, fail_under as failed_conditions
    from .io import load_embeddings, read_labelled_pairs, read_labels

    terminal = Terminal(quiet)
    if fail_under is not None:  # a bad spec fails before any work
        check_fail_under(fail_under, fars, ks, retrieval=classes_path is not None or classes_column is not None)
    _check_plot(plot, emb, right, labels=labels_path, pairs=pairs_path, classes=classes_path, ids=ids_a,
                b_ids=ids_b, **_data_params(metric_params))
    label_from_emb = labels_column if labels_path is None and pairs_path is None else None
    class_from_emb = classes_column if classes_path is None else None
    if label_from_emb is not None and class_from_emb is not None:
        raise UsageError("choose either --labels-column or --classes-column from EMB, not both")
    a_set = load_embeddings(emb, input_format=input_format, key=key, ids_path=ids_a,
                            labels=label_from_emb or class_from_emb, max_input_size=max_input_size)
    b_set = None
    if right is not None:
        b_set = load_embeddings(right, input_format=input_format, key=b_key or key, ids_path=ids_b,
                                max_input_size=max_input_size)
    labels = pairs = classes = None
    if labels_path is not None:
        labels = read_labels(labels_path, len(a_set), labels_column, max_input_size=max_input_size)
    elif label_from_emb is not None:
        labels = a_set.labels
    if pairs_path is not None:
        pairs = read_labelled_pairs(pairs_path, a_set, b_set, max_input_size=max_input_size)
    if classes_path is not None:
        classes = read_labels(classes_path, len(a_set), classes_column, max_input_size=max_input_size)
    elif class_from_emb is not None:
        classes = a_set.labels
    engine.set_threads(threads)
    options = dict(labels=labels, pairs=pairs, classes=classes, sample=sample, seed=seed,
                   positive_label=positive_label, metric=metric, normalize=normalize, folds=folds, fars=fars,
                   ks=ks, **metric_params, zero_vector=zero_vector, memory=memory,
                   notify=terminal.note)
    # a cluster starts at the first scores asked for, after evaluate's own checks
    with _backend(scheduler, terminal, "evaluating", debug) as backend:
        result = evaluate_embeddings(a_set, b_set, **backend.scorers(), **options)
    for note in result.skipped:
        terminal.note(f"skipped {note}")
    for warning in dict.fromkeys(w for r in result.records() for w in r["warnings"]):
        terminal.note(f"warning: {warning}")
    if plot is not None:
        _plot_evaluation(result, plot)
        terminal.note(f"wrote {plot}")
    _emit(result, fmt, precision, terminal)
    if fail_under is not None:
        failed = failed_conditions([next(result.records())], fail_under)
        if failed:
            terminal.note(f"--fail-under not met by {result.best.name}: " + "; ".join(failed))
            return EXIT_NOT_MET
    return 0


def _plot_evaluation(result, path: str) -> None:
    from .plots import RocCurve, plot_evaluation

    curves = [RocCurve(r.name, r.verification.roc.fpr, r.verification.roc.tpr, r.verification.eer,
                       r.verification.auc) for r in result.results]
    best = result.best
    plot_evaluation(path, curves, best.scores[best.same], best.scores[~best.same],
                    best.verification.best_accuracy_threshold, best.verification.higher_is_better,
                    title=result.pairs, score_label=best.name)


@cli.command(context_settings=CONTEXT)
@click.argument("emb")
@click.option("--classes", "classes_path", type=click.Path(), default=None,
              help="A class per row (one per line or a CSV column): adds same- vs other-class distances per class.")
@click.option("--classes-column", default=None,
              help="Column (CSV header), field (JSON) or array (.npz) holding the classes: of the --classes "
                   "file, or of EMB itself.")
@click.option("-m", "--metric", default="euclidean", show_default=True,
              help="Metric of the class distances (with --classes).")
@click.option("--sample", type=click.IntRange(2, 5000), default=2000, show_default=True,
              help="Rows sampled for the pairwise figures (cosines, near duplicates, class distances).")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True, help="Seed of the sample.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Save a norm histogram and a 2-D PCA scatter (coloured by class) as an image (needs siamcli[plot]).")
@click.option("--input-format", type=InputFormatChoice(), default=None,
              help="Format of EMB when the suffix does not say (needed rarely for '-', stdin).")
@click.option("--key", default=None, help="Array to use from an .npz (default: the only one, or 'embeddings').")
@click.option("--ids", "ids_a", type=click.Path(), default=None, help="Row ids, one per line.")
@max_input_option
@click.option("--threads", type=click.IntRange(1, None), default=None,
              help="Threads for BLAS and the kernels (default: every core).")
@quiet_option
@output_options
def inspect(emb, classes_path, classes_column, metric, sample, seed, plot, input_format, key, ids_a, max_input_size,
            threads, quiet, fmt, precision, debug):
    """A health report of an embedding set: plain-language findings first, then the figures.

    Shape and dtype; NaN, infinite and zero rows; the norm distribution and whether the set is
    L2-normalised; dead and near-constant dimensions; the effective rank (exp of the entropy of
    the covariance spectrum) and participation ratio, i.e. how many dimensions are really used;
    the mean and spread of cosine between sampled pairs (anisotropy); exact duplicate rows and
    near-duplicate pairs; and a verdict on collapse: collapsed when more than 90% of sampled
    pairs have cosine > 0.95, or all rows lie near one point (RMS distance below 5% of the RMS
    norm). With --classes: same-class against other-class distances, overall (d') and per class.
    JSON gives one object (n, dim, dtype, effective_rank, mean_cosine, collapsed, warnings, ...).

    \b
    Examples:
      siamcli inspect examples/siamese/test_embeddings.npy
      siamcli inspect emb.npy --classes labels.txt --plot health.png
      siamcli inspect emb.npy -f json | jq '.collapsed, .warnings'
    """
    from . import engine
    from .inspection import inspect_embeddings
    from .io import load_embeddings, read_labels

    terminal = Terminal(quiet)
    _check_plot(plot, emb, classes=classes_path, ids=ids_a)
    emb_set = load_embeddings(emb, input_format=input_format, key=key, ids_path=ids_a,
                              labels=classes_column if classes_path is None else None, max_input_size=max_input_size)
    classes = None
    if classes_path is not None:
        classes = read_labels(classes_path, len(emb_set), classes_column, max_input_size=max_input_size)
    elif classes_column is not None:
        classes = emb_set.labels
    engine.set_threads(threads)
    report = inspect_embeddings(emb_set, classes=classes, sample=sample, seed=seed, metric=metric)
    if plot is not None:
        from .plots import plot_inspection

        plot_inspection(plot, report.norms_sample, report.projection, report.projection_labels,
                        title=f"{emb_set.source}: {report.verdict}")
        terminal.note(f"wrote {plot}")
    _emit(report, fmt, precision, terminal)


@cli.group(context_settings=CONTEXT)
def loss():
    """Contrastive and triplet losses of embeddings, and how they change with the margin.

    \b
    Examples:
      siamcli loss contrastive left.npy right.npy --labels same.txt --margin 1
      siamcli loss contrastive emb.npy --pairs pairs.csv --sweep
      siamcli loss triplet anchor.npy positive.npy negative.npy --margin 0.2 --sweep
    """


#: Options shared by both losses: the distance, the margin and the sweep.
loss_options = _options(
    click.option("-m", "--metric", default="euclidean", show_default=True,
                 help="A distance metric (cosine_distance, angular, euclidean, ...); similarities are refused."),
    metric_param_options,
    click.option("--sweep", is_flag=True,
                 help="A table of the loss and the active share at several margins (see --margins)."),
    click.option("--margins", type=NumberList(float), default=None,
                 help="Margins of --sweep (default: 0 and the 0%, 10%, ..., 100% quantiles of the data)."),
    click.option("--input-format", type=InputFormatChoice(), default=None,
                 help="Format of the inputs when the suffix does not say."),
    max_input_option,
    click.option("--threads", type=click.IntRange(1, None), default=None,
                 help="Threads for BLAS and the kernels (default: every core)."),
    quiet_option,
)


@loss.command(context_settings=CONTEXT)
@click.argument("left")
@click.argument("right", required=False)
@click.option("--labels", "labels_path", type=click.Path(), default=None,
              help="With LEFT RIGHT: a label per pair (row i with row i); --positive-label means similar.")
@click.option("--pairs", "pairs_path", type=click.Path(), default=None,
              help="Labelled pairs of LEFT: a CSV/TSV with columns left, right, label (ids or row numbers).")
@click.option("--positive-label", default="1", show_default=True,
              help="The label value meaning similar (1 also accepts 1/0, true/false, same/different).")
@click.option("--margin", type=Number(), default=1.0, show_default=True, help="The margin m.")
@click.option("--squared/--not-squared", default=True, show_default=True,
              help="Squared terms (Hadsell et al.) or plain d and max(0, m - d).")
@loss_options
@output_options
def contrastive(left, right, labels_path, pairs_path, positive_label, margin, squared, metric, sweep, margins,
                input_format, max_input_size, threads, quiet, fmt, precision, debug, **metric_params):
    """Contrastive loss of labelled pairs: mean of y d^2 + (1 - y) max(0, m - d)^2.

    y = 1 for a similar pair (the label given by --positive-label), 0 for a dissimilar one; d
    is the pair's distance under --metric. This is Hadsell, Chopra and LeCun (2006) without
    their factor 1/2 (halve the loss to compare). Active pairs are those with non-zero loss:
    similar pairs with d > 0, dissimilar pairs with d < m; both shares are reported. --sweep
    shows the loss and the active shares at several margins, to choose one.

    \b
    Examples:
      siamcli loss contrastive left.npy right.npy --labels same.txt --margin 1
      siamcli loss contrastive examples/siamese/test_embeddings.npy --pairs examples/siamese/test_pairs.csv --sweep
    """
    from . import engine, losses
    from .evaluation import parse_labels
    from .io import load_embeddings, read_labelled_pairs, read_labels

    terminal = Terminal(quiet)
    if (labels_path is None) == (pairs_path is None):
        raise UsageError("label the pairs with --labels FILE (with LEFT RIGHT) or --pairs FILE, one of them")
    engine.set_threads(threads)
    a = load_embeddings(left, input_format=input_format, max_input_size=max_input_size)
    if labels_path is not None:
        if right is None:
            raise UsageError("--labels labels row i of LEFT with row i of RIGHT: give RIGHT too")
        b = load_embeddings(right, input_format=input_format, max_input_size=max_input_size)
        if a.dim != b.dim:
            raise ShapeError(f"{a.source} has {a.dim} dimensions but {b.source} has {b.dim}")
        if len(a) != len(b):
            raise UsageError(f"{a.source} has {len(a)} rows but {b.source} has {len(b)}: pairs need equal counts")
        similar = parse_labels(read_labels(labels_path, len(a), max_input_size=max_input_size), positive_label)
        first, second = a.vectors, b.vectors
    else:
        b = a if right is None else load_embeddings(right, input_format=input_format, max_input_size=max_input_size)
        rows_a, rows_b, labels = read_labelled_pairs(pairs_path, a, b, max_input_size=max_input_size)
        similar = parse_labels(labels, positive_label)
        first, second = a.vectors[rows_a], b.vectors[rows_b]
    if b.dim != a.dim:
        raise ShapeError(f"{a.source} has {a.dim} dimensions but {b.source} has {b.dim}")
    distances = losses.pair_distances(first, second, metric, **metric_params)
    if sweep:
        result = losses.margin_sweep("contrastive", distances, similar, margins, squared=squared, metric=metric)
    else:
        result = losses.contrastive_loss(distances, similar, margin, squared=squared, metric=metric)
    _emit(result, fmt, precision, terminal)


@loss.command(context_settings=CONTEXT)
@click.argument("anchor")
@click.argument("positive")
@click.argument("negative")
@click.option("--margin", type=Number(), default=0.2, show_default=True, help="The margin m (FaceNet's alpha).")
@loss_options
@output_options
def triplet(anchor, positive, negative, margin, metric, sweep, margins, input_format, max_input_size, threads,
            quiet, fmt, precision, debug, **metric_params):
    """Triplet loss: mean of max(0, d(a, p) - d(a, n) + m) over rows i of ANCHOR, POSITIVE, NEGATIVE.

    Row i of the three files is one triplet: the anchor, a sample of the same identity and one
    of another. Active triplets have non-zero loss. With g = d(a, n) - d(a, p), triplets are
    easy when g > m, semi-hard when 0 < g <= m and hard when g <= 0 (Schroff et al., FaceNet).
    --sweep shows the loss and the shares at several margins, to choose one.

    \b
    Examples:
      siamcli loss triplet anchor.npy positive.npy negative.npy --margin 0.2
      siamcli loss triplet a.npy p.npy n.npy -m cosine_distance --sweep -f csv
    """
    from . import engine, losses
    from .io import load_embeddings

    terminal = Terminal(quiet)
    engine.set_threads(threads)
    sets = [load_embeddings(path, input_format=input_format, max_input_size=max_input_size)
            for path in (anchor, positive, negative)]
    if len({len(s) for s in sets}) > 1:
        counts = ", ".join(f"{s.source} {len(s)}" for s in sets)
        raise UsageError(f"triplets need the same number of rows in the three files: {counts}")
    for s in sets[1:]:
        if s.dim != sets[0].dim:
            raise ShapeError(f"{sets[0].source} has {sets[0].dim} dimensions but {s.source} has {s.dim}")
    d_ap, d_an = losses.triplet_distances(*(s.vectors for s in sets), metric, **metric_params)
    if sweep:
        result = losses.margin_sweep("triplet", d_ap, d_an, margins, metric=metric)
    else:
        result = losses.triplet_loss(d_ap, d_an, margin, metric=metric)
    _emit(result, fmt, precision, terminal)


@cli.command(context_settings=CONTEXT)
@click.argument("a")
@click.argument("b", nargs=-1)
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Save the whole matrix to FILE (.npy or .csv) instead of printing it; with --scheduler "
                   "also DIR/ (.npy shards of rows, each written by its worker) or X.zarr (a zarr array "
                   "whose chunks are the blocks, each written by its worker; needs siamcli[zarr]).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None,
              help="Number type of the saved .npy or .zarr (default: the type computed in).")
@metric_options
@input_options
@engine_options
@scheduler_option
@output_options
def matrix(a, b, output, dtype, metric, normalize, zero_vector,
           input_format, key, b_key, ids_a, ids_b, max_input_size, memory, threads, quiet, scheduler, fmt, precision,
           debug, **metric_params):
    """The full matrix of scores: every row of A against every row of B (or of A).

    A table shows what fits the terminal and says on stderr how much is hidden; -f csv/json/jsonl
    print all of it, and -o FILE saves it (.npy written block by block, or .csv with ids).

    \b
    Examples:
      siamcli matrix examples/queries.csv
      siamcli matrix a.npy b.npy --metric euclidean -o distances.npy
      siamcli matrix a.npy -f json | jq '.values[0]'
      siamcli matrix gallery.zarr q.npy -o scores.zarr --scheduler local:2
    """
    from . import engine
    from .backends.save import check_dtype, check_matrix_target, matrix_format
    from .results import MatrixResult

    terminal = Terminal(quiet)
    engine.set_threads(threads)
    with _backend(scheduler, terminal, "matrix", debug) as backend:
        if output is None:
            check_dtype(None, dtype)
        else:  # before any work: an output that cannot be written, or would be an input
            kind = matrix_format(output, dtype, folders=backend.writes_folders)
            _check_outputs(("-o", output), a, *b, ids=ids_a, b_ids=ids_b, **_data_params(metric_params))
            check_matrix_target(output, kind)
        a_set, b_set = _load_inputs(backend, a, b, input_format, key, b_key, ids_a, ids_b, max_input_size)
        comp = backend.prepare(a_set, b_set, metric=metric, **metric_params, normalize=normalize,
                               zero_vector=zero_vector, memory=memory, notify=terminal.note)
        if output is None:
            values = backend.matrix(comp)
        else:
            written = backend.save_matrix(comp, output, dtype)
    if output is None:
        _emit(MatrixResult(comp.metric, comp.a, comp.b, values), fmt, precision, terminal)
    elif written is not None:
        terminal.note(f"wrote the matrix as {len(written)} shard{'s' if len(written) != 1 else ''} of rows in {output}")
    else:
        terminal.note(f"wrote the {len(comp.a)} x {len(comp.b)} {comp.metric.name} matrix to {output}")


@cli.command(context_settings=CONTEXT)
@quiet_option
@output_options
def metrics(quiet, fmt, precision, debug):
    """List the metrics: name, aliases, kind (distance or similarity) and what each computes.

    Similarities rank highest first, distances lowest first. Packages can add metrics through
    the entry-point group 'siamcli.metrics'.

    \b
    Examples:
      siamcli metrics
      siamcli metrics -f json | jq -r '.[].name'
    """
    from .metrics import available_metrics
    from .results import MetricList

    terminal = Terminal(quiet)
    _emit(MetricList(available_metrics(warn=terminal.note)), fmt, precision, terminal)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main()
    except SystemExit as exc:
        if exc.code in Stopped.EXIT_CODES:  # here, not in cli.main: a test's CliRunner must not exit
            _exit_now_if_threads_linger(exc.code)
        raise
