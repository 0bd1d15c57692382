"""Output through the command line (issue 13, points 5 and 7): hostile ids read back exactly from
CSV/TSV (Python's csv and pandas), JSON lines that split at newlines only, tables and stderr with
control characters escaped, ranking tables in bounded memory, and a closed pipe exiting 141 for
every command and format. Through click's CliRunner and the installed executable.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from test_cli import EXECUTABLE, RECORD_KEYS, _subprocess_env, parse_jsonl, run, strict_json, table_rows
from test_cli import invoke as _invoke
from test_contract import COMMANDS, FORMATS
from test_output import HOSTILE_IDS, _number, is_unsafe

pd = pytest.importorskip("pandas")


def invoke(entry: str, *args, env=None):
    """test_cli.invoke, but stdout exactly as written: click's Result.stdout turns CRLF into LF."""
    if entry == "runner":
        result = run(*args, env=env)
        return result.exit_code, result.stdout_bytes.decode("utf-8"), result.stderr
    return _invoke(entry, *args, env=env)


def _json_set(path, vectors, ids):
    """Embeddings with ids as a .json file (ASCII escapes: any id survives the file)."""
    path.write_text(json.dumps([{"id": i, "vector": v} for i, v in zip(ids, np.asarray(vectors).tolist())]))
    return path


@pytest.fixture
def hostile(tmp_path):
    """A and B whose ids are the hostile review's, and the vectors behind them."""
    rng = np.random.default_rng(13)
    a, b = rng.normal(size=(len(HOSTILE_IDS), 5)), rng.normal(size=(len(HOSTILE_IDS), 5))
    ids_b = [f"{x}|b" for x in HOSTILE_IDS[::-1]]
    return (_json_set(tmp_path / "a.json", a, HOSTILE_IDS), _json_set(tmp_path / "b.json", b, ids_b),
            HOSTILE_IDS, ids_b)


def read_rows(text: str, fmt: str, reader: str) -> list[list[str]]:
    """Every row of CSV/TSV output, header included, as Python's csv module or pandas reads it."""
    sep = "," if fmt == "csv" else "\t"
    if reader == "csv":
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    return pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False).values.tolist()


# ---------------------------------------------------------------- CSV/TSV read back


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_compare_csv_reads_back_hostile_ids_exactly(hostile, entry, fmt):
    a_path, b_path, ids_a, ids_b = hostile
    code, out, err = invoke(entry, "compare", a_path, b_path, "-k", "3", "-f", fmt)
    assert code == 0 and err == ""
    for reader in ("csv", "pandas"):
        rows = read_rows(out, fmt, reader)
        assert rows[0] == RECORD_KEYS
        assert len(rows) == 1 + 3 * len(ids_a)
        for row in rows[1:]:
            record = dict(zip(RECORD_KEYS, row))
            assert record["a_id"] == ids_a[int(record["a_index"])] and record["b_id"] == ids_b[int(record["b_index"])]


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_verify_csv_reads_back_hostile_ids_exactly(hostile, entry, fmt):
    a_path, b_path, ids_a, ids_b = hostile
    code, out, err = invoke(entry, "verify", a_path, b_path, "--paired", "-t", "-1", "-f", fmt)
    assert code == 0 and err == ""
    for reader in ("csv", "pandas"):
        rows = read_rows(out, fmt, reader)
        assert rows[0] == [*RECORD_KEYS, "threshold", "match"]
        assert [(row[3], row[5]) for row in rows[1:]] == list(zip(ids_a, ids_b))


@pytest.mark.parametrize("fmt", ["csv", "tsv", "file"])
@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_matrix_csv_reads_back_hostile_ids_exactly(hostile, tmp_path, entry, fmt):
    a_path, b_path, ids_a, ids_b = hostile
    if fmt == "file":  # -o FILE.csv: written by output.write_matrix_rows, block by block
        target = tmp_path / "m.csv"
        code, out, err = invoke(entry, "matrix", a_path, b_path, "-o", target)
        text = target.read_bytes().decode("utf-8")
    else:
        code, text, err = invoke(entry, "matrix", a_path, b_path, "-f", fmt)
    assert code == 0
    for reader in ("csv", "pandas"):
        rows = read_rows(text, "tsv" if fmt == "tsv" else "csv", reader)
        assert rows[0] == ["id", *ids_b]
        assert [row[0] for row in rows[1:]] == ids_a
        assert all(len(row) == 1 + len(ids_b) for row in rows)


# ---------------------------------------------------------------- JSON


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_json_output_escapes_line_separators_and_keeps_ids(hostile, entry, fmt):
    a_path, b_path, ids_a, ids_b = hostile
    for command in (["compare", a_path, b_path, "-k", "2"], ["matrix", a_path, b_path]):
        code, out, err = invoke(entry, *command, "-f", fmt)
        assert code == 0 and err == ""
        assert out.splitlines() == out[:-1].split("\n"), "a raw U+2028, U+2029 or NEL splits a line"
        assert not any(is_unsafe(c) for c in out.replace("\n", ""))
        found = parse_jsonl(out) if fmt == "jsonl" else strict_json(out)
        if command[0] == "compare":
            assert len(found) == 2 * len(ids_a)
            assert all(r["a_id"] == ids_a[r["a_index"]] and r["b_id"] == ids_b[r["b_index"]] for r in found)
        elif fmt == "jsonl":
            assert [r["row_id"] for r in found] == ids_a
        else:
            assert (found["row_ids"], found["col_ids"]) == (ids_a, ids_b)


# ---------------------------------------------------------------- tables and stderr


ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x1b[8m\u202e"


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_tables_show_control_characters_escaped(tmp_path, entry):
    rng = np.random.default_rng(1)
    ids = [f"{ESCAPES}{i}" for i in range(3)]
    a_path = _json_set(tmp_path / "a.json", rng.normal(size=(3, 4)), ids)
    b_path = _json_set(tmp_path / "b.json", rng.normal(size=(3, 4)), ids[::-1])
    wide = {"COLUMNS": "200", "LINES": "50"}
    runs = [("compare", a_path, b_path, "-k", "2"), ("compare", a_path, b_path, "--limit", "3"),
            ("compare", a_path, b_path, "--paired"), ("verify", a_path, b_path, "--paired", "-t", "0"),
            ("matrix", a_path, b_path)]
    for args in runs:
        code, out, err = invoke(entry, *args, "-f", "table", env=wide)
        assert code in (0, 1), err
        assert not any(is_unsafe(c) for c in out.replace("\n", "") + err.replace("\n", ""))
        shown = "\\x1b[2J\\x1b]0;pwned\\x07\\x1b[8m\\u202e0"
        assert (shown[:16] if args[0] == "matrix" else shown) in out, out  # the matrix cuts ids at 16 to 24


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_inspection_and_evaluation_tables_escape_class_names_and_file_names(tmp_path, entry):
    rng = np.random.default_rng(2)
    emb = tmp_path / f"emb{ESCAPES[:4]}.npy"
    np.save(emb, rng.normal(size=(40, 4)))
    (tmp_path / "classes.txt").write_text("".join(f"{ESCAPES}{i % 4}\n" for i in range(40)))
    code, out, err = invoke(entry, "inspect", emb, "--classes", tmp_path / "classes.txt", "-f", "table",
                            env={"COLUMNS": "200"})
    assert code == 0, err
    assert not any(is_unsafe(c) for c in out.replace("\n", ""))
    assert "\\x1b[2J" in out and "emb\\x1b[2J.npy" in out
    code, out, err = invoke(entry, "evaluate", emb, "--classes", tmp_path / "classes.txt", "-f", "table",
                            env={"COLUMNS": "200"})
    assert code == 0, err
    assert not any(is_unsafe(c) for c in out.replace("\n", "") + err.replace("\n", ""))


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_stderr_escapes_an_echoed_id(tmp_path, entry):
    vectors = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    a_path = _json_set(tmp_path / "a.json", vectors, ["ok", f"{ESCAPES}zero", "fine"])
    code, out, err = invoke(entry, "compare", a_path, "-k", "1")
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert f"{ESCAPES}zero" not in err and "\\x1b[2J\\x1b]0;pwned\\x07\\x1b[8m\\u202ezero" in err
    (tmp_path / "pairs.csv").write_text(f"ok,fine\n{ESCAPES},ok\n")
    code, out, err = invoke(entry, "compare", a_path, "--pairs", tmp_path / "pairs.csv", "--zero-vector", "nan")
    assert code == 2 and err.count("\n") == 1
    assert not any(is_unsafe(c) for c in err[:-1]) and "\\x1b]0;pwned\\x07" in err


# ---------------------------------------------------------------- streamed tables


def _peak_rss_kib(args: list[str]) -> tuple[int, bytes]:
    """Peak resident memory (KiB) of one siamcli run, measured by a fresh parent that has no other child."""
    code = ("import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
            "sys.stderr.buffer.write(b'%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.stdout.buffer.write(done.stdout)\n"
            "sys.exit(done.returncode)\n")
    proc = subprocess.run([sys.executable, "-c", code, EXECUTABLE, *map(str, args)], capture_output=True,
                          env=_subprocess_env({"COLUMNS": "100"}), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stderr.decode().splitlines()[-1]), proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("selection", [["--limit", "all"], ["-k", "all"]])
def test_big_table_takes_no_more_memory_than_jsonl_and_shows_the_same_rows(tmp_path, selection):
    """1,000 x 1,000 (499,500 or 999,000 pairs): the table used 1.3 GB (--limit all) and 10.9 GB
    (-k all) when rich held every row; now it streams as jsonl does."""
    if EXECUTABLE is None:
        pytest.skip("the siamcli executable is not installed")
    path = tmp_path / "t1000.npy"
    np.save(path, np.random.default_rng(0).normal(size=(1000, 32)).astype(np.float32))
    table_kib, table = _peak_rss_kib(["compare", path, *selection, "-f", "table"])
    jsonl_kib, jsonl = _peak_rss_kib(["compare", path, *selection, "-f", "jsonl"])
    assert table_kib < jsonl_kib + 20 * 1024, (table_kib, jsonl_kib)
    records = parse_jsonl(jsonl.decode())
    assert len(records) == (499_500 if selection[0] == "--limit" else 999_000)
    rows = table_rows(table.decode())
    assert len(rows) == len(records)
    columns = ("rank", "a", "b", "score") if selection[0] == "--limit" else ("a", "rank", "b", "score")
    a_id = None
    for row, record in zip(rows, records):
        cells = dict(zip(columns, row))
        a_id = cells["a"] or a_id  # per-row lists name each row of A once
        assert (a_id, cells["b"], int(cells["rank"])) == (record["a_id"], record["b_id"], record["rank"])
        assert cells["score"] == _number(record["score"], 4)


@pytest.mark.slow
def test_head_of_a_huge_table_returns_at_once_with_141(tmp_path):
    """20,000 x 20,000 -k all is 400 million rows; head -5 has them after the first group."""
    if EXECUTABLE is None or shutil.which("bash") is None or shutil.which("head") is None:
        pytest.skip("needs the siamcli executable, bash and head")
    path = tmp_path / "big.npy"
    np.save(path, np.random.default_rng(3).normal(size=(20_000, 8)).astype(np.float32))
    command = (f"{shlex.quote(EXECUTABLE)} compare {shlex.quote(str(path))} -k all -f table | head -5; "
               "exit ${PIPESTATUS[0]}")
    started = time.monotonic()
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=_subprocess_env(), timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 141 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 5 and lines[0].split() == ["a", "┃", "rank", "┃", "b", "┃", "score"]
    assert [row[1] for row in table_rows(proc.stdout)] == ["1", "2", "3"]
    assert elapsed < 30, f"{elapsed:.1f} s"


# ---------------------------------------------------------------- closed pipes


_PLUGIN = '''
import numpy as np
from siamcli.metrics import Metric

metric = Metric(name="verbose_l1", kind="distance",
                matrix=lambda a, b, params: np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2),
                paired=lambda a, b, params: np.abs(a - b).sum(axis=1),
                reference=lambda u, v, params: sum(abs(x - y) for x, y in zip(u, v)),
                summary="a plugin metric whose summary is longer than a pipe buffer " * 2000)
'''


@pytest.fixture(scope="module")
def pipe_inputs(tmp_path_factory):
    """Inputs that make every command write well over a pipe buffer (64 KiB) in every format."""
    if EXECUTABLE is None or shutil.which("bash") is None or shutil.which("head") is None:
        pytest.skip("needs the siamcli executable, bash and head")
    tmp = tmp_path_factory.mktemp("pipes")
    rng = np.random.default_rng(7)
    for name, rows in (("x", 3000), ("l", 300), ("r", 300), ("n", 300), ("m", 400), ("p", 30_000), ("q", 30_000)):
        np.save(tmp / f"{name}.npy", rng.normal(size=(rows, 4)))
    (tmp / "labels.txt").write_text("".join(f"{i % 2}\n" for i in range(300)))
    (tmp / "classes.txt").write_text("".join(f"c{i % 1500}\n" for i in range(3000)))
    fars = ",".join(f"{x:.6f}" for x in np.linspace(0.0005, 0.9995, 3000))
    margins = ",".join(f"{x:.5f}" for x in np.linspace(0, 3, 2000))
    (tmp / "siamcli_verbose.py").write_text(textwrap.dedent(_PLUGIN))
    info = tmp / "siamcli_verbose-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: siamcli-verbose\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[siamcli.metrics]\nverbose_l1 = siamcli_verbose:metric\n")
    t = lambda name: str(tmp / name)  # noqa: E731
    return tmp, {  # -q: no notes (the matrix table's "showing ...", unreachable FARs): stderr must stay empty
        # every command of the click group needs an entry (test_closed_pipe_covers_every_command)
        "compare": ["compare", t("x.npy"), "-k", "20", "-q"],
        "verify": ["verify", t("p.npy"), t("q.npy"), "--paired", "-t", "0", "-q"],
        "matrix": ["matrix", t("m.npy"), "-q"],
        "evaluate": ["evaluate", t("l.npy"), t("r.npy"), "--labels", t("labels.txt"), "--far", fars, "-q"],
        "inspect": ["inspect", t("x.npy"), "--classes", t("classes.txt"), "-q"],
        "diff": ["diff", t("x.npy"), t("x.npy"), "--top", "all", "-q"],
        "drift": ["drift", t("l.npy"), t("r.npy"), "--permutations", "200", "-q"],
        "metrics": ["metrics", "-q"],
        "loss contrastive": ["loss", "contrastive", t("l.npy"), t("r.npy"), "--labels", t("labels.txt"),
                             "--sweep", "--margins", margins, "-q"],
        "loss triplet": ["loss", "triplet", t("l.npy"), t("r.npy"), t("n.npy"), "--sweep", "--margins", margins, "-q"],
    }


#: Commands whose whole output fits a pipe buffer: the reader leaves at once (`true`), before the
#: command has computed anything, so its first write meets a closed pipe.
SMALL_OUTPUT_READERS = {"drift": "true"}

#: A terminal large enough that the matrix table (what fits it) is larger than a pipe buffer.
BIG_TERMINAL = {"COLUMNS": "1000", "LINES": "300"}


def _into_head(args: list[str], reader: str, env: dict) -> subprocess.CompletedProcess:
    command = f"{shlex.join([EXECUTABLE, *args])} | {reader} > /dev/null; exit ${{PIPESTATUS[0]}}"
    return subprocess.run(["bash", "-c", command], capture_output=True, env=_subprocess_env(env), timeout=300)


@pytest.mark.slow
def test_closed_pipe_covers_every_command(pipe_inputs):
    assert set(pipe_inputs[1]) == set(COMMANDS)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_closed_pipe_exits_141_with_nothing_on_stderr(pipe_inputs, command, fmt):
    tmp, commands = pipe_inputs
    env = {"PYTHONPATH": str(tmp), **BIG_TERMINAL}
    # each run writes far more than a pipe buffer (64 KiB), so it cannot finish before head leaves (or, for
    # SMALL_OUTPUT_READERS, writes only after its reader has left)
    for unbuffered in ("", "1"):  # PYTHONUNBUFFERED: an unbuffered stdout lost the error of a cut-short write
        reader = SMALL_OUTPUT_READERS.get(command, "head -c 100")
        proc = _into_head([*commands[command], "-f", fmt], reader, {**env, "PYTHONUNBUFFERED": unbuffered})
        assert (proc.returncode, proc.stderr.decode()) == (141, "")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_matrix_into_head_one_exits_141(pipe_inputs, fmt):
    """The issue's `matrix -f table | head -1` exited 1 (rich's own broken-pipe handling)."""
    tmp, commands = pipe_inputs
    proc = _into_head([*commands["matrix"], "-f", fmt], "head -1", BIG_TERMINAL)
    assert (proc.returncode, proc.stderr.decode()) == (141, "")
