"""The click group: exit statuses, one `Error:` line per failure, signals, SIGPIPE and --debug.

Exit status: 0 success; 1 a requested condition was not met (later commands); 2 bad usage or
bad input (one line `Error: ...` on stderr); 3 an internal error (a bug: rerun with --debug).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys

import click

from .. import __version__
from ..errors import SiamError
from .flags import flag_name
from .options import CONTEXT
from .terminal import Terminal

EXIT_NOT_MET = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_BROKEN_PIPE = 141  # as a Unix tool killed by SIGPIPE: `siamcli ... | head`


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
            terminal.error(_shortened_values(" ".join(exc.format_message().split())) + hint)
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

    def make_context(self, info_name, args, parent=None, **extra):
        # The words of the command line as given, for what reports say made them (--report).
        argv = ["siamcli", *args]
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta["siamcli.argv"] = argv
        return ctx

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



@click.group(cls=SiamGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="siamcli")
def cli():
    """Compare embeddings: distances, nearest neighbours, similarity matrices, and how good a
    Siamese or metric-learning model's embeddings are.

    \b
    Examples:
      siamcli compare queries.csv gallery.npz --top-k 3
      siamcli compare a.npy b.npy -m euclidean -f json | jq .
      siamcli matrix a.npy -o distances.npy -m euclidean
      siamcli evaluate emb.npy --pairs pairs.csv --metric all
      siamcli inspect emb.npy --classes labels.txt
      siamcli metrics
    """


def _shortened_values(message: str) -> str:
    """click's message with each quoted value cut to 80 characters: an option given a whole line
    or cell by mistake is named, not echoed."""
    import re

    return re.sub(r"'([^']{81,})'", lambda m: f"'{m.group(1)[:80]}...'", message)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main()
    except SystemExit as exc:
        if exc.code in Stopped.EXIT_CODES:  # here, not in cli.main: a test's CliRunner must not exit
            _exit_now_if_threads_linger(exc.code)
        raise
