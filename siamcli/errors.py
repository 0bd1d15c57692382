"""Errors the library raises; the CLI turns each into one `Error: ...` line and exit status 2.

The library speaks of parameters, the CLI of flags: a message names a parameter with
`mention("zero_vector")`. `str(error)` shows it by its Python name (`zero_vector`); the CLI renders
the same error with `error.render(flag_name)`, so one place maps parameters to flags.
"""

from __future__ import annotations

import re
from typing import Callable

_MARK = "\x1f"  # unit separator: never part of a message a user writes
_MENTION = re.compile(f"{_MARK}([A-Za-z_][A-Za-z0-9_]*){_MARK}")


def mention(param: str) -> str:
    """A parameter's name inside an error message, shown as `param` by str() and as its flag by the CLI."""
    return f"{_MARK}{param}{_MARK}"


def mentioned(message: str) -> list[str]:
    """The parameters a message mentions, in order."""
    return _MENTION.findall(message)


class SiamError(Exception):
    """Base class: something the user can fix (bad input, bad option).

    `param` is the parameter the error is about (the first one the message mentions, unless given).
    """

    def __init__(self, message: str = "", *, param: str | None = None):
        super().__init__(message)
        self.template = message
        found = mentioned(message)
        self.param = param if param is not None else (found[0] if found else None)

    def render(self, name: Callable[[str], str] = lambda param: param) -> str:
        """The message with each mentioned parameter shown as `name(param)`."""
        return _MENTION.sub(lambda match: name(match.group(1)), self.template)

    def __str__(self) -> str:
        return self.render()


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


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A number of things in words that agree with it: 1 pair, 2 pairs, 1,000 pairs; 1 query, 2 queries."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def agrees(n: int, one: str, many: str) -> str:
    """The word that agrees with a count: agrees(1, "is", "are") -> "is"."""
    return one if n == 1 else many


def did_you_mean(name: str, choices) -> str:
    """A ' (did you mean X?)' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
