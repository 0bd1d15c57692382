"""Everything a person reads on stderr: notes, errors and the progress bar (never stdout); the
width of the terminal that tables and notes fit."""

from __future__ import annotations

import os
import sys
import time

import click

from ..output import safe_text


def terminal_width() -> int | None:
    """The columns output should fit: $COLUMNS, else the terminal's when stderr or stdout is one
    (`siamcli ... | jq` still wraps its notes to the terminal); None when unknown (pipes: tables
    take rich's default of 80, notes are not wrapped, so logs keep one note per line)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.strip().isdigit() and int(columns) > 0:
        return int(columns)
    for stream in (sys.stderr, sys.stdout):
        try:
            if stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns or None
        except (AttributeError, OSError, ValueError):  # no file descriptor (a test's stream), or closed
            continue
    return None


def wrapped(message: str, width: int | None) -> str:
    """A message in lines of at most `width` columns (continuations indented by two spaces); as
    it is when the width is unknown."""
    if width is None or len(message) <= width:
        return message
    import textwrap

    return "\n".join(textwrap.wrap(message, max(width, 20), subsequent_indent="  ", break_on_hyphens=False))


class Terminal:
    """Everything a person reads on stderr: notes, warnings, errors, progress. Never stdout.

    quiet (-q) hides notes and progress, never an error nor the reason for exit status 1;
    silent (verify -s) hides that reason too: only errors (exit 2) are said."""

    def __init__(self, quiet: bool = False, silent: bool = False):
        self.quiet = quiet or silent
        self.silent = silent
        self.width = terminal_width()

    def note(self, message: str) -> None:
        if not self.quiet:  # ids and file names echoed: escape sequences shown, not run
            click.echo(wrapped(safe_text(message), self.width), err=True)

    def reason(self, message: str) -> None:
        """Why the command exits 1 (a gate, a pair that does not match): said even under -q."""
        if not self.silent:
            click.echo(wrapped(safe_text(message), self.width), err=True)

    def error(self, message: str) -> None:
        click.echo(f"Error: {safe_text(message)}", err=True)  # one line, whatever the width: grep-able

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

