"""docs/completion.md: how to turn shell completion on, and what completes, read from the click group."""

from __future__ import annotations

import click

from ..completion import COMPLETE_VAR
from . import CommandDoc

#: The example the page shows, with what it prints (asked of the completion itself).
EXAMPLE = ("siamcli compare a.npy b.npy --metric cos", 5)


def completes(param: click.Parameter, ctx: click.Context) -> str | None:
    """What the parameter completes, in words: file names, its choices, or what its completion says."""
    items = param.shell_complete(ctx, "")
    if not items:
        return None
    if items[0].type in ("file", "dir"):
        return f"{items[0].type} names"
    values = [item.value for item in items]
    metrics = {name for name, _ in _metric_choices()}
    if metrics <= set(values) or (len(values) > 4 and set(values) <= metrics | {"all"}):
        kind = " (distances)" if not metrics <= set(values) else ""
        extra = [f"`{v}`" for v in values if v not in metrics]
        return f"metric names and aliases{kind}" + (f", {', '.join(extra)}" if extra else "")
    return ", ".join(f"`{value}`" for value in values)


def _metric_choices():
    from ..completion import metric_choices

    return metric_choices()


def rows(commands: list[CommandDoc]) -> list[tuple[str, str, str]]:
    """(option, what it completes, the commands that have it), the arguments (inputs) as one row."""
    found: dict[tuple[str, str], list[str]] = {}
    for doc in commands:
        if isinstance(doc.command, click.Group):
            continue
        ctx = click.Context(doc.command, info_name=doc.path[-1])
        for param in doc.command.get_params(ctx):
            what = completes(param, ctx)
            if what is not None:
                name = f"`{'/'.join(param.opts)}`" if isinstance(param, click.Option) else "the inputs (arguments)"
                listed = found.setdefault((name, what), [])
                listed += [] if " ".join(doc.path) in listed else [" ".join(doc.path)]
    everywhere = [" ".join(doc.path) for doc in commands if not isinstance(doc.command, click.Group)]
    return [(name, what, "every command" if listed == everywhere else ", ".join(f"`{c}`" for c in listed))
            for (name, what), listed in found.items()]


def example() -> str:
    """What the example asks and what siamcli answers, run through the group's own main."""
    from click.testing import CliRunner

    from ..app import cli

    words, cword = EXAMPLE
    result = CliRunner().invoke(cli, [], prog_name="siamcli", env={
        COMPLETE_VAR: "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    return (f'$ COMP_WORDS="{words}" COMP_CWORD={cword} {COMPLETE_VAR}=bash_complete siamcli\n'
            + result.stdout.rstrip("\n"))


def page(commands: list[CommandDoc]) -> str:
    from .markdown import table

    return f"""# Shell completion

siamcli completes its commands and options, metric names and aliases (`-m/--metric`, `--metric-b`;
`evaluate -m` also `all` and each name of a comma list; `loss -m` distances only), input and output
formats (`--input-format`, `-f/--format`) and the other choices, and file names for its inputs, in
bash, zsh and fish. It is click's shell completion, driven by the variable `{COMPLETE_VAR}`.

## bash

In `~/.bashrc` (bash 4.4 or later):

```sh
eval "$({COMPLETE_VAR}=bash_source siamcli)"
```

or, to start shells faster, save the script once and source the file:

```sh
{COMPLETE_VAR}=bash_source siamcli > ~/.siamcli-complete.bash
echo '. ~/.siamcli-complete.bash' >> ~/.bashrc
```

## zsh

In `~/.zshrc`, after `compinit`:

```sh
eval "$({COMPLETE_VAR}=zsh_source siamcli)"
```

or save it once: `{COMPLETE_VAR}=zsh_source siamcli > ~/.siamcli-complete.zsh` and source that file
from `~/.zshrc`. zsh shows each metric's summary beside its name.

## fish

```sh
{COMPLETE_VAR}=fish_source siamcli > ~/.config/fish/completions/siamcli.fish
```

## How it works

The script asks siamcli itself for completions each time Tab is pressed, so they follow the installed
version: a metric added by a plugin completes as soon as it is installed. The script changes only
with click; saved copies need no update when siamcli changes. To see what the shell receives:

```text
{example()}
```

## What completes

Besides the commands and option names:

{table(("option or argument", "completes", "on"), rows(commands))}"""
