"""Terminal width (issue 18, part 2): every command's table, evaluate's histogram and the notes fit
the console (COLUMNS, through CliRunner and the installed executable); errors stay one line; the
top-level help shows whole summaries."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import numpy as np
import pytest
from rich.cells import cell_len

from siamcli.cli import cli
from test_cli import invoke, run

WIDTHS = [60, 80, 100, 120]
EXAMPLES = "examples/siamese"

#: Table runs of every command, several layouts each; "{x}" are the files of the fixture.
TABLES = {
    "compare top-k": ["compare", "{a}", "{b}", "-k", "3", "--ids", "{ids}"],
    "compare limit": ["compare", "{a}", "--ids", "{ids}", "--limit", "5"],
    "compare paired": ["compare", "{a}", "{n}", "--paired"],
    "compare one score": ["compare", "{one}", "{one}"],
    "compare show": ["compare", "{docs}", "--limit", "3", "--show", "text", "--show", "title"],
    "verify": ["verify", "{a}", "{n}", "--paired", "-t", "0.2", "--ids", "{ids}"],
    "matrix": ["matrix", "{a}", "{b}", "--ids", "{ids}"],
    "evaluate": ["evaluate", "{a}", "{n}", "--labels", "{same}", "--bootstrap", "20"],
    "evaluate all": ["evaluate", "{a}", "--classes", "{classes}", "-m", "all", "--bootstrap", "20", "--normalize"],
    "evaluate models": ["evaluate", "{a}", "{n}", "--classes", "{classes}", "-m", "cosine,euclidean",
                        "--bootstrap", "20"],
    "evaluate copies": ["evaluate", "{a}", "{n}", "--classes", "{classes}", "-m", "cosine,euclidean",
                        "--dims", "4", "--quantize", "int8,binary", "--bootstrap", "20"],
    "evaluate big counts": ["evaluate", "{big}", "--classes", "{big_classes}", "--bootstrap", "0"],
    "inspect": ["inspect", "{a}", "--classes", "{classes}", "--ids", "{ids}"],
    "diff": ["diff", "{a}", "{n}", "--by-row", "-k", "3", "--ids", "{ids}", "--b-ids", "{ids}"],
    "loss contrastive": ["loss", "contrastive", "{a}", "{n}", "--labels", "{same}"],
    "loss contrastive sweep": ["loss", "contrastive", "{a}", "{n}", "--labels", "{same}", "--sweep"],
    "loss triplet sweep": ["loss", "triplet", "{a}", "{n}", "{b}", "--sweep"],
    "metrics": ["metrics"],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("width")
    rng = np.random.default_rng(60)
    paths = {}
    for name, rows in (("a", 40), ("n", 40), ("b", 40), ("big", 1000)):
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], rng.normal(size=(rows, 8)) * rng.uniform(0.5, 3, size=(rows, 1)))
    paths["one"] = folder / "one.npy"
    np.save(paths["one"], rng.normal(size=8))
    paths["same"] = folder / "same.txt"
    paths["same"].write_text("".join(f"{int(i % 3 == 0)}\n" for i in range(40)))
    paths["classes"] = folder / "classes.txt"
    paths["classes"].write_text("".join(f"class-{i % 4}\n" for i in range(40)))
    paths["big_classes"] = folder / "big_classes.txt"
    paths["big_classes"].write_text("".join(f"c{i % 3}\n" for i in range(1000)))
    paths["docs"] = folder / "docs.csv"  # two text columns shown beside the ids: they give way to the width
    paths["docs"].write_text("id,text,title,e0,e1,e2\n" + "".join(
        f"doc{i},some rather long text for document number {i} here,title number {i} of the doc,"
        + ",".join(f"{x:.4f}" for x in rng.normal(size=3)) + "\n" for i in range(20)))
    paths["ids"] = folder / "ids.txt"
    paths["ids"].write_text("".join(f"an-item-with-a-rather-long-identifier-number-{i}\n" for i in range(40)))
    return {k: str(v) for k, v in paths.items()}


def _args(name: str, files: dict) -> list[str]:
    return [a.format(**files) for a in TABLES[name]] + ["-f", "table"]


def _too_long(text: str, width: int) -> list[str]:
    return [line for line in text.splitlines() if cell_len(line) > width]


def _histogram(text: str) -> list[str]:
    """The histogram's heading and the lines after it (20 bins)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("score ") and "#" in line)
    return lines[start:start + 21]


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(TABLES))
def test_every_table_fits_the_width_in_process(files, name, width):
    code, out, err = invoke("runner", *_args(name, files), env={"COLUMNS": str(width), "LINES": "40"})
    assert code in (0, 1) and out.strip(), err
    assert not _too_long(out, width) and not _too_long(err, width)
    if name.startswith("evaluate"):
        bins = _histogram(out)
        assert len(bins) == 21 and all(re.match(r"^\s*-?[\d.e+-]+ \.\. -?[\d.e+-]+\s", line) for line in bins[1:])
        counts = [int(line.split()[-1]) for line in bins[1:]]
        assert sum(counts) > 0


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["compare top-k", "matrix", "evaluate all", "evaluate big counts", "inspect", "diff",
                                  "loss contrastive sweep", "metrics"])
def test_tables_fit_the_width_through_the_executable(files, name, width):
    code, out, err = invoke("executable", *_args(name, files), env={"COLUMNS": str(width), "LINES": "40"})
    assert code in (0, 1) and out.strip(), err
    assert not _too_long(out, width) and not _too_long(err, width)


def test_evaluate_histogram_fits_80_columns_one_line_per_bin(files):
    """The histogram was about 115 columns wide: each bin wrapped in an 80-column terminal."""
    result = run(*_args("evaluate", files), env={"COLUMNS": "80"})
    bins = _histogram(result.stdout)
    assert max(cell_len(line) for line in bins) <= 80 and len(bins) == 21
    counts = [re.match(r"^\s*\S+ \.\. \S+\s+#*\s+(\d+)\s+\.*\s+(\d+)$", line).groups() for line in bins[1:]]
    labels = Path(files["same"]).read_text().split()
    assert sum(int(s) for s, _ in counts) == labels.count("1") and sum(int(d) for _, d in counts) == labels.count("0")


def test_long_notes_wrap_and_errors_stay_one_line(files):
    evaluate = run(*_args("evaluate", files), env={"COLUMNS": "60"})
    warnings = [line for line in evaluate.stderr.splitlines() if line.startswith("warning:")]
    assert warnings and not _too_long(evaluate.stderr, 60)
    assert any(line.startswith("  ") for line in evaluate.stderr.splitlines())  # a continuation
    error = run("compare", files["a"], files["b"], "--paired", "-k", "3", env={"COLUMNS": "60"})
    assert error.exit_code == 2 and len(error.stderr.splitlines()) == 1 and len(error.stderr) > 60


def test_notes_are_not_wrapped_when_no_width_is_known(files):
    result = run(*_args("evaluate", files))  # CliRunner: no terminal, no COLUMNS
    assert any(cell_len(line) > 80 for line in result.stderr.splitlines())


def _first_sentence(command: click.Command) -> str:
    paragraph = " ".join(command.help.split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[:end + 1]


@pytest.mark.parametrize("entry, width", [("runner", 80), ("executable", 60), ("executable", 80), ("executable", 120)])
def test_top_level_help_shows_whole_summaries(entry, width):
    """(CliRunner formats help at 80 columns whatever COLUMNS says.)"""
    code, out, _ = invoke(entry, "--help", env={"COLUMNS": str(width)})
    assert code == 0 and not _too_long(out, width)
    listed = " ".join(out.split("Commands:")[1].split())
    for name, command in cli.commands.items():
        assert f"{name} {_first_sentence(command)}" in listed.replace("- ", "-"), name
    assert "..." not in out.split("Commands:")[1]


def test_wrapped_findings_keep_their_indent(files):
    """An indented line of a report wraps with its continuations indented further, never at column 0,
    and says the same words as on a wide terminal."""
    def summary(width: int) -> list[str]:
        lines = run(*_args("inspect", files), env={"COLUMNS": str(width)}).stdout.splitlines()
        return lines[1:lines.index("findings:")]  # the summary's items, each indented by two spaces

    narrow, wide = summary(60), summary(400)
    assert all(line.startswith("  ") for line in narrow) and len(narrow) > len(wide)
    assert any(line.startswith("    ") for line in narrow)  # an item did wrap, under itself
    assert " ".join(" ".join(narrow).split()) == " ".join(" ".join(wide).split())


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_notes_fit_the_terminal_on_stderr_when_stdout_is_a_pipe(files):
    """`siamcli evaluate ... | jq` in a 64-column terminal: the notes on the terminal fit it."""
    import fcntl
    import struct
    import subprocess
    import termios

    from test_cli import EXECUTABLE, _subprocess_env, read_terminal

    if EXECUTABLE is None:
        pytest.skip("the siamcli executable is not installed")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 64, 0, 0))
    try:
        proc = subprocess.run([EXECUTABLE, *_args("evaluate", files)[:-2], "-f", "jsonl"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=slave, env=_subprocess_env(), timeout=120)
    finally:
        os.close(slave)
    err = read_terminal(master).decode("utf-8").replace("\r\n", "\n")
    assert proc.returncode == 0 and proc.stdout.strip()
    assert "warning:" in err and not _too_long(err, 64)
    assert any(line.startswith("  ") for line in err.splitlines())


@pytest.mark.slow
def test_the_html_report_draws_the_histogram_whatever_the_terminal(files, tmp_path):
    """A page is not a terminal: the histogram there is drawn for the page's own width, one line a bin."""
    pytest.importorskip("matplotlib")
    import html

    page = tmp_path / "report.html"
    result = run(*_args("evaluate", files)[:-2], "--report", page, "-f", "json", env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.stderr
    text = html.unescape(page.read_text(encoding="utf-8"))
    bins = _histogram(text)
    assert "positive (#)" in bins[0] and len(bins) == 21
    assert all(re.match(r"^\s*-?[\d.e+-]+ \.\. -?[\d.e+-]+\s", line) for line in bins[1:])
