"""Errors the library raises; the CLI turns each into one `Error: ...` line and exit status 2."""

from __future__ import annotations


class SiamError(Exception):
    """Base class: something the user can fix (bad input, bad option)."""


class InputError(SiamError):
    """A file is missing, unreadable or holds something that is not finite numeric vectors."""


class ShapeError(SiamError):
    """Inputs that cannot be compared: different dimensions or row counts."""


class ClusterError(SiamError):
    """A Dask cluster that cannot finish a run: no workers left, or workers dying on a task."""


class UnknownMetricError(SiamError):
    """A metric name that no built-in metric or plugin provides."""


class UsageError(SiamError):
    """Options that contradict each other or are out of range."""


def did_you_mean(name: str, choices) -> str:
    """A ' (did you mean X?)' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
