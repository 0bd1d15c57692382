"""The one place library parameters become flags: errors name parameters (errors.mention), the CLI shows flags."""

from __future__ import annotations

#: A library parameter -> the flag that sets it, where it is not `--` and the name with dashes.
FLAGS = {
    "output": "-o",
    "fars": "--far",  # siamcli.evaluate's names for evaluate's --far and --recall-k
    "ks": "--recall-k",
}


def flag_name(param: str) -> str:
    """The flag a library parameter is set by: the one place parameters become flags."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))

