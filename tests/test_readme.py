"""The README's tables, help texts and quickstart output are what the code produces."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from siamcli.io import FORMATS
from siamcli.metrics import BUILTIN_METRICS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def siamcli_executable() -> str:
    found = shutil.which("siamcli", path=os.path.dirname(sys.executable)) or shutil.which("siamcli")
    assert found, "the siamcli console script is not installed next to this Python"
    return found


def run(*args: str, columns: int = 100) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS=str(columns), LINES="25")
    return subprocess.run([siamcli_executable(), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def metric_table() -> str:
    rows = [
        f"| `{m.name}` | {', '.join(f'`{a}`' for a in m.aliases)} | {m.kind} | {m.summary.replace('|', chr(92) + '|')} |"
        for m in BUILTIN_METRICS
    ]
    return "\n".join(["| metric | aliases | kind | what it computes |", "|---|---|---|---|", *rows])


def test_readme_metric_table_is_the_registry():
    expected = metric_table()
    assert expected in README, "README's metric table is stale; replace it with:\n" + expected


HELP_COMMANDS = ["compare", "matrix", "metrics", "verify", "evaluate", "inspect", "diff", "drift",
                 "loss contrastive", "loss triplet"]


@pytest.mark.parametrize("command", HELP_COMMANDS)
def test_readme_help_texts_are_current(command):
    result = run(*command.split(), "--help")
    assert result.returncode == 0
    block = f"$ siamcli {command} --help\n{result.stdout.rstrip()}\n```"
    assert block in README, f"README's help for {command} is stale; replace it with:\n{result.stdout}"


def test_readme_quickstart_runs_and_prints_what_the_readme_shows():
    quickstart = re.search(r"## Quickstart.*?```sh\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(quickstart) == 2, "the quickstart has exactly two commands"
    first = quickstart[0].split("&& ")[-1].split()
    assert first[0].endswith("siamcli")
    result = run(*first[1:], "-f", "table", columns=80)
    assert result.returncode == 0, result.stderr
    shown = re.search(r"The first prints.*?```text\n(.*?)\n\.\.\.\n```", README, re.S).group(1)
    assert result.stdout.startswith(shown + "\n")
    assert "pytest" in quickstart[1] and "'.[test]'" in quickstart[1]


def example_sessions() -> list[tuple[str, str]]:
    """(command line, the output shown up to '...') of README sessions that run on examples/."""
    sessions = []
    for block in re.findall(r"```text\n(.*?)```", README, re.S):
        for part in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, shown = part.partition("\n")
            if "examples/" in command and "--help" not in command:
                sessions.append((command, shown.split("\n...\n")[0]))
    return sessions


@pytest.mark.parametrize("command, shown", example_sessions())
def test_readme_example_sessions_print_what_the_readme_shows(command, shown):
    args = command.split()[1:]
    result = run(*args, *([] if "-f" in args else ["-f", "table"]))  # a table unless the README names a format
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(shown), f"README shows for {command}:\n{shown}\nit prints:\n{result.stdout}"


def test_readme_lists_every_input_suffix():
    for fmt in FORMATS.values():
        for suffix in fmt.suffixes:
            assert f"`{suffix}`" in README, suffix


def test_ci_runs_the_readme_test_command_in_a_fresh_virtualenv():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv" in ci and "'.[test]'" in ci and "pytest" in ci


def update_readme() -> None:
    """Rewrite the README's generated parts (metric table, help texts): python tests/test_readme.py --update"""
    text = README
    text = re.sub(r"\| metric \| aliases \| kind \| what it computes \|\n\|---\|---\|---\|---\|\n(?:\|.*\|\n)+",
                  lambda _: metric_table() + "\n", text)
    for command in HELP_COMMANDS:
        help_text = run(*command.split(), "--help").stdout.rstrip()
        text = re.sub(rf"(\$ siamcli {command} --help\n).*?(\n```)", lambda m: m.group(1) + help_text + m.group(2),
                      text, flags=re.S)
    (ROOT / "README.md").write_text(text, encoding="utf-8")


if __name__ == "__main__" and "--update" in sys.argv:
    update_readme()
