"""The README's quickstart and example sessions, and those of the guides in docs/, print what they show;
the metric table and the list of input suffixes in docs/ are the registries'. (The generated reference in
docs/, every command's --help among it, is checked by test_docs.py.)"""

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
DOCS = ROOT / "docs"
#: The pages whose ```text sessions are run: the README and the hand-written guides.
SESSION_PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in DOCS.glob("*.md")
                                     if not p.read_text(encoding="utf-8").startswith("<!-- Generated"))]


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
    assert expected in (DOCS / "metrics.md").read_text(encoding="utf-8"), (
        "docs/metrics.md's table is stale; regenerate docs (python -m siamcli.cli.docs docs). It should be:\n" + expected)


def test_readme_links_to_the_reference():
    for page in ("docs/index.md", "docs/metrics.md", "docs/formats.md", "docs/environment.md", "docs/completion.md"):
        assert f"]({page}" in README, page
    assert "docs/siamcli.1" in README


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
    """(command line, the output shown up to '...') of the sessions that run on examples/, in the README and
    the hand-written guides."""
    sessions = []
    for page in SESSION_PAGES:
        for block in re.findall(r"```text\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), re.S):
            for part in re.split(r"^\$ ", block, flags=re.M)[1:]:
                command, _, shown = part.partition("\n")
                if "examples/" in command and "--help" not in command:
                    sessions.append((command, shown.split("\n...\n")[0]))
    return sessions


def test_readme_and_guides_have_sessions_to_run():
    assert len(example_sessions()) >= 4  # as many as the README held before the guides moved out
    assert any(page.startswith("docs/") for page in SESSION_PAGES)


@pytest.mark.parametrize("command, shown", example_sessions())
def test_readme_example_sessions_print_what_the_readme_shows(command, shown):
    args = command.split()[1:]
    result = run(*args, *([] if "-f" in args else ["-f", "table"]))  # a table unless the README names a format
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(shown), f"README shows for {command}:\n{shown}\nit prints:\n{result.stdout}"


def test_readme_lists_every_input_suffix():
    """The hand-written table of docs/inputs.md says how each suffix is read."""
    inputs = (DOCS / "inputs.md").read_text(encoding="utf-8")
    for fmt in FORMATS.values():
        for suffix in fmt.suffixes:
            assert f"`{suffix}`" in inputs, suffix


def test_ci_runs_the_readme_test_command_in_a_fresh_virtualenv():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv" in ci and "'.[test]'" in ci and "pytest" in ci
