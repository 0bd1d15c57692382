"""The CLI's reading options: --query-id (queries by id, their own rows left out), --show (text
beside ids), --column/--columns/--id-column/--key refused where no input takes them, --dtype,
and folders of .npy shards read here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from test_cli import assert_one_error_line, invoke, parse_jsonl

ENTRIES = ["runner", "executable"]


def _records(entry, *args):
    code, out, err = invoke(entry, *args, "-f", "jsonl")
    assert code == 0, err
    return parse_jsonl(out)


def _jsonl_file(path, vectors, ids, texts=None):
    with open(path, "w") as f:
        for i, (v, row_id) in enumerate(zip(vectors, ids)):
            record = {"id": row_id, "embedding": [float(x) for x in v]}
            if texts is not None:
                record["text"] = texts[i]
            f.write(json.dumps(record) + "\n")
    return path


def _brute_force_without_self(x, queries, k, metric):
    """For each query row, the k best other rows (ties by row index), from scipy's cdist."""
    scores = 1 - cdist(x[queries], x, "cosine") if metric == "cosine" else cdist(x[queries], x, metric)
    higher = metric == "cosine"
    out = []
    for qi, row in enumerate(queries):
        order = sorted((j for j in range(len(x)) if j != row), key=lambda j: (-scores[qi, j] if higher else
                                                                               scores[qi, j], j))
        out.append([(row, j, scores[qi, j]) for j in order[:k]])
    return out


# ---------------------------------------------------------------- --query-id


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_query_id_top_k_leaves_the_query_out_and_matches_brute_force(tmp_path, entry, metric):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 6))
    ids = [f"doc{i}" for i in range(40)]
    path = _jsonl_file(tmp_path / "g.jsonl", x, ids)
    queries = [7, 31, 0]
    records = _records(entry, "compare", path, *[a for q in queries for a in ("--query-id", ids[q])], "-k", "4",
                       "-m", metric)
    expected = [t for per in _brute_force_without_self(x, queries, 4, metric) for t in per]
    got = sorted(((r["a_index"], r["b_index"], r["score"]) for r in records), key=lambda t: (queries.index(t[0]),))
    assert [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in expected]
    np.testing.assert_allclose([s for *_, s in got], [s for *_, s in expected], rtol=1e-9, atol=1e-12)
    assert all(r["a_id"] == ids[r["a_index"]] and r["b_index"] != r["a_index"] for r in records)
    for q in queries:
        assert [r["rank"] for r in records if r["a_index"] == q] == [1, 2, 3, 4]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 25), k=st.integers(1, 30), picks=st.lists(st.integers(0, 24), min_size=1, max_size=5),
       limit=st.integers(1, 40), seed=st.integers(0, 2**16), duplicates=st.booleans())
def test_query_id_rankings_equal_brute_force_with_ties_and_duplicates(n, k, picks, limit, seed, duplicates):
    """Per row and overall, with duplicate rows (ties that rank a query's own row anywhere among equals)."""
    from siamcli import engine
    from siamcli.engine.queries import query_rows, without_self
    from siamcli.io import embeddings_from_array

    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(n, 3)).astype(float) if duplicates else rng.normal(size=(n, 3))
    x[np.all(x == 0, axis=1)] = 1.0
    gallery = embeddings_from_array(x)
    queries_wanted = list(dict.fromkeys(p % n for p in picks))
    queries, rows = query_rows(gallery, [str(q) for q in queries_wanted])
    comp = engine.prepare(queries, gallery, metric="euclidean")
    d = cdist(x[rows], x)
    per_row = list(without_self(engine.rankings(comp, top_k=k + 1), rows, gallery, k, None))
    got = [(int(a), int(b)) for p in per_row for a, b in zip(p.a_index, p.b_index)]
    expected = [(int(r), j) for qi, r in enumerate(rows)
                for j in sorted((j for j in range(n) if j != r), key=lambda j: (d[qi, j], j))[:k]]
    assert sorted(got) == sorted(expected)
    overall = list(without_self(engine.rankings(comp, limit=limit + len(rows)), rows, gallery, None, limit))
    pairs = sorted(((d[qi, j], qi, j) for qi, r in enumerate(rows) for j in range(n) if j != r))
    got_scores = [s for p in overall for s in p.score.tolist()]
    np.testing.assert_allclose(got_scores, [s for s, *_ in pairs[:limit]], rtol=1e-9, atol=1e-9)
    assert [r for p in overall for r in p.rank.tolist()] == list(range(1, min(limit, len(pairs)) + 1))


@pytest.mark.parametrize("entry", ENTRIES)
def test_query_id_against_another_set_keeps_every_row_of_it(tmp_path, entry):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(9, 4))
    a_path = _jsonl_file(tmp_path / "a.jsonl", a, [f"q{i}" for i in range(5)])
    np.save(tmp_path / "b.npy", b)
    records = _records(entry, "compare", a_path, tmp_path / "b.npy", "--query-id", "q3", "-k", "9")
    assert [r["b_index"] for r in records] == list(np.argsort(-(1 - cdist(a[3:4], b, "cosine"))[0], kind="stable"))
    assert {r["a_index"] for r in records} == {3}


@pytest.mark.parametrize("entry", ENTRIES)
def test_query_id_unknown_is_one_error_line_naming_it(tmp_path, entry):
    path = _jsonl_file(tmp_path / "g.jsonl", np.eye(3), ["a", "b", "c"])
    code, out, err = invoke(entry, "compare", path, "--query-id", "zzz" + "y" * 500)
    assert_one_error_line(code, out, err, ["has no row with id", "zzz"])
    assert len(err) < 300  # the id is excerpted, never echoed whole


def test_query_id_refuses_paired(tmp_path):
    np.save(tmp_path / "a.npy", np.eye(3))
    code, out, err = invoke("runner", "compare", tmp_path / "a.npy", tmp_path / "a.npy", "--paired",
                            "--query-id", "1")
    assert_one_error_line(code, out, err, ["--query-id", "--paired"])


# ---------------------------------------------------------------- --show


@pytest.mark.parametrize("entry", ENTRIES)
def test_show_adds_each_sides_text_to_records(tmp_path, entry):
    x = np.random.default_rng(3).normal(size=(6, 4))
    texts = [f"sentence number {i}, with \"quotes\" and ünïcode" for i in range(6)]
    path = _jsonl_file(tmp_path / "g.jsonl", x, [f"d{i}" for i in range(6)], texts)
    records = _records(entry, "compare", path, "--show", "text", "-k", "2")
    assert len(records) == 12
    for r in records:
        assert r["a_text"] == texts[r["a_index"]] and r["b_text"] == texts[r["b_index"]]
        assert list(r)[:8] == ["metric", "higher_is_better", "a_index", "a_id", "b_index", "b_id", "a_text", "b_text"]
    code, out, err = invoke(entry, "compare", path, "--show", "text", "-k", "1", "-f", "csv")
    assert code == 0, err
    assert out.splitlines()[0] == "metric,higher_is_better,a_index,a_id,b_index,b_id,a_text,b_text,score,rank"


def test_show_text_column_fits_the_terminal_in_a_table(tmp_path):
    x = np.random.default_rng(4).normal(size=(4, 3))
    texts = ["a long sentence " * 20] * 4
    path = _jsonl_file(tmp_path / "g.jsonl", x, [f"d{i}" for i in range(4)], texts)
    for width in (60, 80, 120):
        code, out, err = invoke("runner", "compare", path, "--show", "text", "-k", "2", "-f", "table",
                                env={"COLUMNS": str(width)})
        assert code == 0, err
        assert "a_text" in out and "a long sentenc" in out
        assert max(len(line) for line in out.splitlines()) <= width


@pytest.mark.parametrize("entry", ENTRIES)
def test_show_a_field_no_input_has_is_an_error(tmp_path, entry):
    np.save(tmp_path / "a.npy", np.eye(3))
    code, out, err = invoke(entry, "compare", tmp_path / "a.npy", "--show", "text")
    assert_one_error_line(code, out, err, ["--show", "text"])


# ---------------------------------------------------------------- options no input takes


@pytest.mark.parametrize("option,value", [("--column", "emb"), ("--columns", "e*"), ("--id-column", "key"),
                                          ("--key", "x")])
def test_table_options_no_input_takes_are_one_error_line(tmp_path, option, value):
    np.save(tmp_path / "a.npy", np.eye(3))
    code, out, err = invoke("runner", "compare", tmp_path / "a.npy", option, value)
    assert_one_error_line(code, out, err, [option, "npy"])


def test_key_applies_when_one_of_the_inputs_takes_it(tmp_path):
    x = np.random.default_rng(5).normal(size=(4, 3))
    np.savez(tmp_path / "a.npz", vecs=x, other=np.zeros((2, 2)))
    np.save(tmp_path / "b.npy", x)
    records = _records("runner", "compare", tmp_path / "a.npz", tmp_path / "b.npy", "--key", "vecs", "-k", "1")
    assert [r["b_index"] for r in records] == [0, 1, 2, 3]


# ---------------------------------------------------------------- --dtype


@pytest.mark.parametrize("entry", ENTRIES)
def test_dtype_float32_scores_the_float32_rounding_of_the_inputs(tmp_path, entry):
    x = np.random.default_rng(6).normal(size=(8, 5)) * 1e3 + 0.1234567891234
    path = tmp_path / "a.csv"
    np.savetxt(path, x, delimiter=",", fmt="%.17g")
    for dtype, rows in (("float32", x.astype(np.float32).astype(np.float64)), ("float64", x)):
        code, out, err = invoke(entry, "matrix", path, "-m", "euclidean", "--dtype", dtype, "-f", "json")
        assert code == 0, err
        np.testing.assert_allclose(np.array(json.loads(out)["values"]), cdist(rows, rows),
                                   rtol=1e-6 if dtype == "float32" else 1e-12, atol=1e-3 if dtype == "float32" else 1e-9)


def test_dtype_float32_of_a_value_past_its_range_is_an_error_naming_it(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("1.0,2.0\n3.0,1e300\n")
    code, out, err = invoke("runner", "compare", path, "--dtype", "float32")
    assert_one_error_line(code, out, err, ["line 2, column 2", "float32", "--dtype"])


# ---------------------------------------------------------------- folders of .npy shards, here


@pytest.mark.parametrize("entry", ENTRIES)
def test_npy_folder_is_read_here_in_file_name_order_with_shard_ids(tmp_path, entry):
    rng = np.random.default_rng(7)
    parts = [rng.normal(size=(n, 4)).astype(np.float32) for n in (3, 5, 2)]
    folder = tmp_path / "shards"
    folder.mkdir()
    for name, part in zip(("part-10", "part-02", "part-03"), parts):  # file-name order: 02, 03, 10
        np.save(folder / f"{name}.npy", part)
    whole = np.concatenate([parts[1], parts[2], parts[0]])
    ids = [f"part-02:{r}" for r in range(5)] + [f"part-03:{r}" for r in range(2)] + [f"part-10:{r}" for r in range(3)]
    records = _records(entry, "compare", folder, "-k", "1", "-m", "euclidean")
    d = cdist(whole.astype(np.float64), whole.astype(np.float64))
    np.fill_diagonal(d, np.inf)
    assert [r["b_index"] for r in records] == list(d.argmin(axis=1))
    assert [r["a_id"] for r in records] == ids


@pytest.mark.parametrize("entry", ENTRIES)
def test_folder_without_inputs_is_one_error_line(tmp_path, entry):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    code, out, err = invoke(entry, "compare", tmp_path / "empty")
    assert_one_error_line(code, out, err, ["is a directory that holds no", ".npy file", "Hugging Face dataset"])


# ---------------------------------------------------------------- errors name values, never echo them whole

LONG = "x" * 10_000


def _long_value_cases(tmp_path):
    np.save(tmp_path / "a.npy", np.eye(3))
    np.savez(tmp_path / "a.npz", **{"e" + LONG[:300]: np.eye(3), "f": np.eye(3)})
    (tmp_path / "pairs.csv").write_text(f"{LONG},1\n0,1\n")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"id": LONG, "embedding": [1, 2]}) + "\n"
                                        + json.dumps({"id": "b", "embedding": [1, LONG]}) + "\n")
    (tmp_path / "bad.csv").write_text(f"id,a,b\n{LONG},1,2\nb,{LONG},3\n")
    a, npz = str(tmp_path / "a.npy"), str(tmp_path / "a.npz")
    return [["compare", a, a, "--pairs", str(tmp_path / "pairs.csv")], ["compare", npz, "--key", LONG],
            ["compare", npz], ["compare", str(tmp_path / "bad.jsonl")], ["compare", str(tmp_path / "bad.csv")],
            ["compare", a, "--input-format", LONG], ["compare", a, "-k", LONG], ["compare", a, "--query-id", LONG],
            ["compare", a, "--show", LONG],
            ["compare", npz, "--column", LONG]]


def test_error_messages_never_echo_more_than_80_characters_of_a_value(tmp_path):
    for args in _long_value_cases(tmp_path):
        code, out, err = invoke("runner", *args)
        assert code == 2 and out == "" and err.count("\n") == 1, (args[1:], err[:300])
        longest = max(len(run) for run in err.replace(str(tmp_path), "").replace("'", " ").split())
        assert longest <= 90, (args[1:], err[:300])
