"""Contract tests: every command (read from the click group) in every output format (read from
output.FORMATTERS) on small valid inputs, and on bad ones; -q everywhere. A new command fails
test_contract_covers_every_command until it has an entry in COMMAND_ARGS; a new format is checked
the moment it is registered (generic contract, plus the strict checks below for the known ones).

References are independent of siamcli's output code: json (strict: no NaN/Infinity) and csv.
"""

from __future__ import annotations

import csv
import io
import json

import click
import numpy as np
import pytest

from siamcli import output
from siamcli.cli import cli
from test_cli import invoke, run, strict_json


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command of the group, as its words on the command line (`loss triplet`)."""
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _leaf_commands(command, prefix + (name,))
        else:
            found.append(prefix + (name,))
    return found


COMMANDS = [" ".join(words) for words in _leaf_commands(cli)]
FORMATS = list(output.FORMATTERS)

#: Minimal valid arguments of each command; "{a}", "{b}", "{n}" are small embedding files, "{same}" a
#: label per pair. The first "{a}" is what the bad-input tests replace (None: the command reads no file).
COMMAND_ARGS: dict[str, list[str]] = {
    "compare": ["{a}", "{b}", "--top-k", "2"],
    "verify": ["{a}", "{b}", "--paired", "-m", "euclidean", "-t", "1000"],  # every pair the same: exit 0
    "matrix": ["{a}", "{b}"],
    "evaluate": ["{a}", "{b}", "--labels", "{same}"],
    "inspect": ["{a}"],
    "diff": ["{a}", "{b}", "-k", "3"],
    "drift": ["{a}", "{b}", "--permutations", "50"],
    "loss contrastive": ["{a}", "{b}", "--labels", "{same}"],
    "loss triplet": ["{a}", "{b}", "{n}"],
    "metrics": [],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("contract")
    rng = np.random.default_rng(14)
    paths = {}
    for name in ("a", "b", "n"):
        paths[name] = str(folder / f"{name}.npy")
        np.save(paths[name], rng.normal(size=(24, 5)).astype(np.float32))
    paths["same"] = str(folder / "same.txt")
    (folder / "same.txt").write_text("".join(f"{i % 2}\n" for i in range(24)))
    paths["missing"] = str(folder / "missing.npy")
    paths["malformed"] = str(folder / "malformed.npy")
    (folder / "malformed.npy").write_bytes(b"\x93NUMPY\x01\x00this is not a header\n" + b"\x00" * 40)
    return paths


def _args(command: str, files: dict[str, str], bad: str | None = None) -> list[str]:
    """The command's words and arguments; with `bad`, the first input file replaced by files[bad]."""
    args = [a.format(**files) for a in COMMAND_ARGS[command]]
    if bad is not None:
        args[args.index(files["a"])] = files[bad]
    return command.split() + args


def _check_json(text: str) -> None:
    value = strict_json(text)
    assert isinstance(value, (list, dict)) and value


def _check_jsonl(text: str) -> None:
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) > 1
    for line in lines[:-1]:
        assert isinstance(strict_json(line), dict)


def _check_delimited(text: str, delimiter: str) -> None:
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header, body = rows[0], rows[1:]
    assert header and all(header) and body
    assert all(len(row) == len(header) for row in body)


#: What each known format must be beyond the generic contract (exit 0, something on stdout).
FORMAT_CHECKS = {
    "json": _check_json,
    "jsonl": _check_jsonl,
    "csv": lambda text: _check_delimited(text, ","),
    "tsv": lambda text: _check_delimited(text, "\t"),
    "table": lambda text: None,
}


def _check_format(command: str, fmt: str, files: dict[str, str]) -> str:
    result = run(*_args(command, files), "-f", fmt, "-q")
    assert result.exit_code == 0, (command, fmt, result.stderr)
    assert result.stderr == ""  # -q: no notes, no progress
    assert result.stdout.strip()
    FORMAT_CHECKS.get(fmt, lambda text: None)(result.stdout)
    return result.stdout


def _check_bad_input(outcome: tuple[int, str, str], where: str) -> None:
    status, stdout, stderr = outcome
    assert status == 2, stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and where in lines[0], stderr


def test_contract_covers_every_command():
    """A command added to the click group must get minimal arguments here, or this fails."""
    assert set(COMMANDS) == set(COMMAND_ARGS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_contract_command_writes_every_format(files, command, fmt):
    _check_format(command, fmt, files)


@pytest.mark.parametrize("bad", ["missing", "malformed"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", [c for c in COMMANDS if "{a}" in COMMAND_ARGS.get(c, [])])
def test_contract_bad_input_is_one_error_line(files, command, fmt, bad):
    _check_bad_input(invoke("runner", *_args(command, files, bad), "-f", fmt), files[bad].rsplit("/", 1)[-1])


@pytest.mark.parametrize("command", COMMANDS)
def test_contract_quiet_is_accepted(files, command):
    result = run(*_args(command, files), "--quiet", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_contract_executable_keeps_the_contract(files, command):
    """The installed executable: strict JSON out on good input, one Error: line and exit 2 on bad."""
    status, stdout, stderr = invoke("executable", *_args(command, files), "-f", "json", "-q")
    assert status == 0 and stderr == "", stderr
    _check_json(stdout)
    if "{a}" in COMMAND_ARGS[command]:
        _check_bad_input(invoke("executable", *_args(command, files, "missing"), "-f", "jsonl"), "missing.npy")


def _write_markdown(parts, out, options) -> None:
    """A toy format: the records as a Markdown table, header from the first record's keys."""
    header = None
    for part in parts:
        for record in part.records():
            if header is None:
                header = list(record)
                out.write("| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|\n")
            out.write("| " + " | ".join(json.dumps(record[k]) for k in header) + " |\n")


def test_output_format_registered_at_run_time_is_offered_and_contract_checked(monkeypatch, files):
    """Adding a format is one entry in FORMATTERS: -f accepts it and every command writes it."""
    assert run("compare", files["a"], files["b"], "-f", "markdown").exit_code == 2  # not there yet
    monkeypatch.setitem(output.FORMATTERS, "markdown", _write_markdown)
    records = strict_json(run(*_args("compare", files), "-f", "json").stdout)
    lines = run(*_args("compare", files), "-f", "markdown").stdout.splitlines()
    assert lines[0] == "| " + " | ".join(records[0]) + " |"
    assert [line.split(" | ")[-2] for line in lines[2:]] == [json.dumps(r["score"]) for r in records]
    assert "markdown" in run("compare", "--help").stdout
    for command in COMMANDS:  # what the contract suite runs for every format, now with this one
        _check_format(command, "markdown", files)
        if "{a}" in COMMAND_ARGS[command]:
            _check_bad_input(invoke("runner", *_args(command, files, "missing"), "-f", "markdown"), "missing.npy")
