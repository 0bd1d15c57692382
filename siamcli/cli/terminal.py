"""Everything a person reads on stderr: notes, errors and the progress bar (never stdout)."""

from __future__ import annotations

import sys
import time

import click

from ..output import safe_text


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

