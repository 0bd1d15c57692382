"""Shell completion (click's, through $_SIAMCLI_COMPLETE): metric names and aliases for the metric
options, file names for the input arguments. Choices (--input-format, -f, --zero-vector, --dtype)
complete as every click.Choice does. docs/completion.md says how to turn it on."""

from __future__ import annotations

import click

#: The variable click reads to complete (`_SIAMCLI_COMPLETE=bash_source siamcli` prints the bash script).
COMPLETE_VAR = "_SIAMCLI_COMPLETE"
#: The shells click completes for.
SHELLS = ("bash", "zsh", "fish")


def metric_choices(kind: str | None = None) -> list[tuple[str, str]]:
    """(name, description) of every registered metric and alias, of one kind ("distance") or all."""
    from ..metrics import available_metrics

    choices = []
    for metric in available_metrics(warn=lambda message: None):  # a broken plugin must not break completion
        if kind is None or metric.kind == kind:
            choices.append((metric.name, metric.summary))
            choices.extend((alias, f"alias of {metric.name}") for alias in metric.aliases)
    return choices


def complete_metric(kind: str | None = None, extra: tuple[tuple[str, str], ...] = (), listed: bool = False):
    """A click shell_complete function for a metric option: the names and aliases of the metrics (of
    `kind` only, when given) and `extra` choices ("all"); `listed`: the option takes a comma list, so
    the word after the last comma is completed."""

    def complete(ctx, param, incomplete: str) -> list:
        from click.shell_completion import CompletionItem  # only when completing: start-up stays quick

        head, comma, word = incomplete.rpartition(",") if listed else ("", "", incomplete)
        given = {name.strip().lower() for name in head.split(",")} if comma else set()
        return [CompletionItem(head + comma + name, help=text)
                for name, text in (*metric_choices(kind), *extra)
                if name.startswith(word.lower()) and name not in given]

    return complete


class InputPath(click.types.StringParamType):
    """An input named on the command line (a file, a folder, '-'): converted as text, completed as a file name."""

    def shell_complete(self, ctx, param, incomplete: str) -> list:
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]


INPUT_PATH = InputPath()


def complete_inputs(command: click.Command) -> None:
    """Let the command's positional arguments, which all name inputs, complete as file names."""
    for param in command.params:
        if isinstance(param, click.Argument) and param.type is click.STRING:
            param.type = INPUT_PATH
