"""The reference in docs/, generated from the registries (metrics, input and output formats), the
environment variables siamcli reads, and every command's --help at 100 columns: one Markdown page per
command, an index, metrics.md, formats.md, environment.md, completion.md and the man page siamcli.1.

Regenerate everything with `python -m siamcli.cli.docs docs` (tests/test_docs.py fails until docs/
is what this writes). Pages not listed by `pages()` (the guides) are written by hand and left alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import click

#: The one command that regenerates every generated page.
REGENERATE = "python -m siamcli.cli.docs docs"
#: --help is rendered as in a terminal this wide (click caps it at max_content_width, 100).
HELP_COLUMNS = 100
#: The folder of the per-command pages; every file in it is generated.
COMMANDS_DIR = "commands"
#: The hand-written guides the index links to: (file in docs/, title, what it covers).
GUIDES = (
    ("ranking.md", "Comparing and ranking", "top-k, --limit, thresholds, self-comparison, zero vectors, mahalanobis"),
    ("evaluation.md", "Evaluating a model", "evaluate's figures, intervals, several models, --dims and --quantize"),
    ("diagnostics.md", "verify, inspect, loss, plots and diff", "what each reports and how"),
    ("inputs.md", "Inputs", "every file format, reading options, ids, dtypes, strict text and size limits"),
    ("output.md", "Output and exit status", "formats, safe text, record shapes, exit statuses, files siamcli writes"),
    ("precision.md", "Precision", "how close to scipy the scores are, and at what magnitudes"),
    ("plugins.md", "Metric plugins", "adding a metric from another package"),
    ("performance.md", "Speed, memory and Dask clusters", "the memory budget, threads, benchmarks, --scheduler"),
    ("python.md", "Python API", "the library under the CLI"),
)
#: The guide about each command (by its first word), linked from its page.
COMMAND_GUIDES = {"compare": "ranking.md", "matrix": "ranking.md", "evaluate": "evaluation.md",
                  "verify": "diagnostics.md", "inspect": "diagnostics.md", "loss": "diagnostics.md",
                  "diff": "diagnostics.md", "metrics": "metrics.md"}


@dataclass(frozen=True)
class CommandDoc:
    """One command of the click group (or the group itself, `path` ()), with its --help as printed."""

    path: tuple[str, ...]
    command: click.Command
    help_text: str

    @property
    def name(self) -> str:
        return " ".join(("siamcli", *self.path))

    @property
    def page(self) -> str:
        """Its page, relative to docs/."""
        return f"{COMMANDS_DIR}/{'-'.join(self.path) or 'siamcli'}.md"

    @property
    def summary(self) -> str:
        """The first sentence of its help, whole."""
        return self.command.get_short_help_str(limit=500)

    @property
    def subcommands(self) -> list[str]:
        return sorted(self.command.commands) if isinstance(self.command, click.Group) else []


def help_text(path: tuple[str, ...]) -> str:
    """`siamcli PATH --help` as printed in a terminal HELP_COLUMNS wide, through the group's own main
    (click's CliRunner would force 80 columns)."""
    import contextlib
    import io

    from ..app import cli

    out, saved = io.StringIO(), {name: os.environ.get(name) for name in ("COLUMNS", "LINES")}
    os.environ.update(COLUMNS=str(HELP_COLUMNS), LINES="25")
    try:
        with contextlib.redirect_stdout(out):
            code = cli.main([*path, "--help"], prog_name="siamcli", standalone_mode=False)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if code != 0:
        raise RuntimeError(f"siamcli {' '.join(path)} --help failed: {out.getvalue()}")
    return out.getvalue().rstrip("\n")


def command_docs() -> list[CommandDoc]:
    """The group and every command under it, subcommands after their group, by name."""
    from ..app import cli

    found = []

    def visit(path: tuple[str, ...], command: click.Command) -> None:
        found.append(CommandDoc(path, command, help_text(path)))
        if isinstance(command, click.Group):
            for name in sorted(command.commands):
                if not command.commands[name].hidden:
                    visit((*path, name), command.commands[name])

    visit((), cli)
    return found


def pages() -> dict[str, str]:
    """Every generated file: its path relative to docs/ -> its text."""
    from . import manpage, markdown

    commands = command_docs()
    generated = {doc.page: markdown.command_page(doc) for doc in commands}
    generated.update({
        "index.md": markdown.index_page(commands),
        "metrics.md": markdown.metrics_page(),
        "formats.md": markdown.formats_page(),
        "environment.md": markdown.environment_page(),
        "completion.md": markdown.completion_page(commands),
        "siamcli.1": manpage.man_page(commands),
    })
    return generated


def differences(folder: str, generated: dict[str, str]) -> tuple[list[str], list[str]]:
    """(the generated files missing from `folder` or different there, the command pages of no command)."""
    commands = os.path.join(folder, COMMANDS_DIR)
    present = sorted(os.listdir(commands)) if os.path.isdir(commands) else []
    gone = [f"{COMMANDS_DIR}/{name}" for name in present if f"{COMMANDS_DIR}/{name}" not in generated]
    changed = []
    for name, text in generated.items():
        try:
            with open(os.path.join(folder, name), "rb") as handle:
                if handle.read() == text.encode("utf-8"):
                    continue
        except FileNotFoundError:
            pass
        changed.append(name)
    return changed, gone


def write(folder: str) -> list[str]:
    """Write every generated file under `folder` that differs (each whole or not at all), and remove the
    pages of commands that are gone; returns the files written and removed."""
    from ...files import write_bytes

    generated = pages()
    changed, gone = differences(folder, generated)
    os.makedirs(os.path.join(folder, COMMANDS_DIR), exist_ok=True)
    for name in gone:
        os.remove(os.path.join(folder, name))
    for name in changed:
        write_bytes(os.path.join(folder, name), generated[name].encode("utf-8"))
    return changed + gone


USAGE = "usage: python -m siamcli.cli.docs [--check] [FOLDER]  (default: docs; --check: exit 1 if it is stale)"


def main(argv: list[str] | None = None) -> int:
    """Regenerate the reference in FOLDER, or with --check say whether it is current (exit 1 if not)."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    rest = [arg for arg in args if arg != "--check"]
    if {"-h", "--help"} & set(rest):
        print(USAGE)
        return 0
    if len(rest) > 1 or any(arg.startswith("-") for arg in rest):
        print(f"Error: unexpected {' '.join(rest)}; {USAGE}", file=sys.stderr)
        return 2
    folder = rest[0] if rest else "docs"
    if check:
        changed, gone = differences(folder, pages())
        stale = changed + gone
        print(f"{folder}: " + (f"stale: {', '.join(stale)}; run {REGENERATE}" if stale else "current"), file=sys.stderr)
        return 1 if stale else 0
    changed = write(folder)
    print(f"{folder}: {len(changed)} file(s) written or removed" + "".join(f"\n  {name}" for name in changed),
          file=sys.stderr)
    return 0
