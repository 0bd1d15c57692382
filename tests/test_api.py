"""The Python API as a notebook user meets it: `load` of objects in memory (arrays, lists, torch
tensors, pandas and polars DataFrames) against the .npy of the same numbers, one-line reprs,
Ranking.topk against brute force (scipy's cdist), to_pandas against the records, sizes for memory."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist

import siamcli
from siamcli.results import MAX_REPR, Document, Ranking, Result

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(7)

# ---------------------------------------------------------------- load of objects in memory

finite = dict(allow_nan=False, allow_infinity=False)
arrays = st.one_of(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
               elements=st.floats(-1e6, 1e6, width=32, **finite)),
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
               elements=st.floats(-1e300, 1e300, **finite)),
)


def loaded_npy(x: np.ndarray):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.npy"
        np.save(path, x)
        s = siamcli.load(path)
        return np.array(s.vectors), s.ids


def same_numbers(found, expected):
    assert found.dtype == expected.dtype and found.shape == expected.shape
    assert found.tobytes() == expected.tobytes()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays)
def test_api_load_of_arrays_lists_and_dataframes_equals_load_of_the_npy(x):
    from_file, _ = loaded_npy(x)
    same_numbers(siamcli.load(x).vectors, from_file)
    # Python floats are doubles: a list computes in float64, each value the float32 widened exactly
    same_numbers(siamcli.load(x.tolist()).vectors, from_file.astype(np.float64))
    columns = [f"e{j}" for j in range(x.shape[1])]
    same_numbers(siamcli.load(pd.DataFrame(x, columns=columns)).vectors, from_file)
    same_numbers(siamcli.load(pd.DataFrame({"emb": list(x)})).vectors, from_file)
    same_numbers(siamcli.load(pl.DataFrame(x, schema=columns)).vectors, from_file)
    same_numbers(siamcli.load(pl.DataFrame({"emb": x})).vectors, from_file)  # polars' Array column


@settings(max_examples=20, deadline=None)
@given(arrays, st.data())
def test_api_load_of_a_dataframe_reads_ids_labels_and_chosen_columns(x, data):
    ids = [f"item{i}" for i in range(len(x))]
    labels = data.draw(st.lists(st.sampled_from(["cat", "dog"]), min_size=len(x), max_size=len(x)))
    frame = pd.DataFrame(x, columns=[f"e{j}" for j in range(x.shape[1])]).assign(id=ids, kind=labels, other=1.5)
    s = siamcli.load(frame, columns="e*", labels="kind")
    same_numbers(np.asarray(s.vectors), x)
    assert s.ids == ids and list(s.labels) == labels
    s = siamcli.load(pl.from_pandas(frame), columns="e*", id_column="kind")
    same_numbers(np.asarray(s.vectors), x)
    assert s.ids == labels


def test_api_load_of_a_pandas_dataframe_with_numbered_and_nullable_columns():
    x = RNG.normal(size=(7, 3))
    frame = pd.DataFrame(x).astype("Float64").assign(id=pd.array(range(7), dtype="Int64"))
    s = siamcli.load(frame)  # columns 0, 1, 2 (numbers as labels), an integer id column
    assert np.array_equal(s.vectors, x) and s.ids == [str(i) for i in range(7)]
    assert siamcli.load(frame, columns="0,2").vectors.tolist() == x[:, [0, 2]].tolist()


def test_api_load_of_a_pandas_column_of_lists_reads_as_arrow_types_them():
    ints = pd.DataFrame({"v": [[1, 2], [3, 4]]})  # integers compute in float64, as in a Parquet file
    assert siamcli.load(ints).vectors.dtype == np.float64 and siamcli.load(ints).vectors.tolist() == [[1, 2], [3, 4]]
    halves = pd.DataFrame({"v": list(np.eye(2, dtype=np.float16))})
    assert siamcli.load(halves).vectors.dtype == np.float32


def test_api_load_of_a_pandas_dataframe_takes_ids_from_an_index_named_id_only():
    frame = pd.DataFrame({"id": ["p", "q"], "e1": [1.0, 2.0], "e2": [3.0, 4.0]})
    assert siamcli.load(frame.set_index("id")).ids == ["p", "q"]
    assert siamcli.load(frame.rename(columns={"id": "key"}).set_index("key"), id_column="key").ids == ["p", "q"]
    numbered = frame.drop(columns="id").set_index(pd.Index([10, 20], name="x"))
    s = siamcli.load(numbered)  # an index of another name is neither ids nor a dimension
    assert s.ids is None and s.vectors.tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_api_compare_of_dataframes_equals_compare_of_the_files(tmp_path):
    a, b = RNG.normal(size=(12, 5)), RNG.normal(size=(30, 5))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    from_files = siamcli.compare(tmp_path / "a.npy", tmp_path / "b.npy", top_k=4)
    from_frames = siamcli.compare(pd.DataFrame(a), pl.DataFrame({"v": b.tolist()}), top_k=4)
    for name in ("a_index", "b_index", "score", "rank"):
        assert np.array_equal(getattr(from_files, name), getattr(from_frames, name))


def test_api_load_of_an_integer_list_keeps_integers_as_a_file_would():
    x = np.array([[1, 2], [3, 4]])
    assert siamcli.load([[1, 2], [3, 4]]).vectors.dtype == loaded_npy(x)[0].dtype


@pytest.mark.parametrize("obj, message", [
    ([[1.0, 2.0], [3.0]], "<list>: row 1 holds 1 value but row 0 holds 2; every vector must have the same length"),
    ([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0, 7.0]], "<list>: row 2 holds 3 values but row 0 holds 2"),
    (None, "cannot read embeddings from a NoneType; give a path, a numpy array, a list of rows, a torch tensor "
           "or a pandas or polars DataFrame"),
    ({"a": [1.0]}, "cannot read embeddings from a dict"),
    ([["a", "b"]], "<list>: holds text, not numbers"),
    (np.array([[1.0, np.nan]]), "<array>: row 0, column 1 is NaN; embeddings must be finite"),
    (np.array([[1.0, 2.0], [np.inf, 0.0]]), "<array>: row 1, column 0 is infinite"),
    (np.zeros((2, 2, 2)), "<array>: is a 3-D array (2 x 2 x 2); expected one vector or a 2-D array of rows"),
    (np.zeros((0, 3)), "<array>: has no rows"),
    (np.array([[1 + 2j]]), "<array>: holds complex numbers; embeddings must be real"),
    (np.array([[object()]]), "<array>: holds Python objects, not numbers"),
    ([], "<list>: is empty"),
])
def test_api_load_of_a_bad_object_is_an_input_error_saying_what(obj, message):
    with pytest.raises(siamcli.InputError) as raised:
        siamcli.load(obj)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"text": ["a", "b"]}), "<DataFrame>: holds no column of numeric lists and no numeric column (columns: text)"),
    (pd.DataFrame({"x": [1.0, None]}), "<DataFrame>: row 1, column 'x' is NaN; embeddings must be finite"),
    (pd.DataFrame({"x": pd.array([1.0, None], dtype="Float64")}), "<DataFrame>: row 1, column 'x' is NaN"),
    (pd.DataFrame({"v": [np.ones(2), None]}), "<DataFrame>: row 1: column 'v' is null; every row needs a vector"),
    (pd.DataFrame({"x": [1.0, 2.0], "id": ["a", None]}), "<DataFrame>: row 1: column 'id' is null"),
    (pl.DataFrame({"x": [1.0, None]}), "<DataFrame>: row 1: column 'x' is null"),
    (pd.DataFrame({"v": [[1.0, 2.0], [3.0]]}), "<DataFrame>: row 1: column 'v' holds 1 value but row 0 holds 2"),
    (pd.DataFrame({"v": [np.ones(2), np.array([1.0, np.nan])]}), "<DataFrame>: row 1, element 1 of column 'v' is NaN"),
    (pl.DataFrame({"v": [[1.0, 2.0], [3.0]]}), "<DataFrame>: row 1: column 'v' holds 1 value but row 0 holds 2"),
    (pd.DataFrame({"x": [1.0], "y": [float("inf")]}), "<DataFrame>: row 0, column 'y' is infinite"),
    (pd.DataFrame({"x": [1.0, 2.0]}).iloc[:0], "<DataFrame>: has no rows"),
])
def test_api_load_of_a_bad_dataframe_names_row_and_column(frame, message):
    with pytest.raises(siamcli.InputError) as raised:
        siamcli.load(frame)
    assert str(raised.value).startswith(message)


def test_api_load_refuses_options_an_object_does_not_take():
    with pytest.raises(siamcli.UsageError, match="^column applies to files and DataFrames, not to an array$"):
        siamcli.load(np.eye(2), column="v")
    with pytest.raises(siamcli.UsageError, match="^labels applies to files and DataFrames, not to a list$"):
        siamcli.load([[1.0]], labels="kind")
    with pytest.raises(siamcli.UsageError, match="^input_format applies to files, not to objects in memory$"):
        siamcli.load(np.eye(2), input_format="npy")
    with pytest.raises(siamcli.InputError, match="^<DataFrame>: has no column 'nope' "):
        siamcli.load(pd.DataFrame({"x": [1.0]}), id_column="nope")


def test_api_load_of_an_object_takes_dtype_and_ids_path(tmp_path):
    (tmp_path / "ids.txt").write_text("p\nq\n")
    s = siamcli.load(np.array([[0.1, 0.2], [0.3, 0.4]]), dtype="float32", ids_path=tmp_path / "ids.txt")
    assert s.vectors.dtype == np.float32 and s.ids == ["p", "q"]
    assert np.array_equal(s.vectors, np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32))


def test_api_load_of_objects_never_imports_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails: nothing may try it
    for obj in (np.eye(2), [[1.0, 0.0]], pd.DataFrame({"x": [1.0]}), pl.DataFrame({"x": [1.0]})):
        assert siamcli.load(obj).dim >= 1


def test_api_a_class_called_tensor_elsewhere_is_not_taken_for_torch():
    Tensor = type("Tensor", (), {"__module__": "mytorchlike"})
    with pytest.raises(siamcli.InputError, match="^cannot read embeddings from a mytorchlike.Tensor"):
        siamcli.load(Tensor())


def test_api_load_takes_array_likes_such_as_a_pandas_series():
    s = siamcli.load(pd.Series([1.0, 2.0, 3.0]))
    assert s.single and s.vectors.tolist() == [[1.0, 2.0, 3.0]]


def _torch_stand_in(monkeypatch):
    """A module called torch with a Tensor class that records how it is read (torch itself is not in
    the test extra: its wheels take gigabytes), for the plumbing: detached, moved to the CPU, widened."""
    import types

    torch = types.ModuleType("torch")
    torch.strided, torch.float16, torch.float32, torch.float64 = "strided", "float16", "float32", "float64"
    calls = []

    class Tensor:
        layout = "strided"

        def __init__(self, values, dtype="float32", device="cuda"):
            self.values, self.dtype, self.device, self.shape = values, dtype, device, values.shape

        def detach(self):
            calls.append("detach")
            return self

        def cpu(self):
            calls.append("cpu")
            return Tensor(self.values, self.dtype, "cpu")

        def to(self, dtype):
            return Tensor(self.values.astype(np.float32), dtype, self.device)

        def is_complex(self):
            return False

        def is_floating_point(self):
            return True

        def resolve_conj(self):
            return self

        resolve_neg = resolve_conj

        def numpy(self):
            if self.device != "cpu":
                raise TypeError("can't convert cuda tensor to numpy")
            if self.dtype not in ("float16", "float32", "float64"):
                raise TypeError(f"Got unsupported ScalarType {self.dtype}")
            return self.values

    Tensor.__module__ = "torch"
    torch.Tensor = Tensor
    monkeypatch.setitem(sys.modules, "torch", torch)
    return Tensor, calls


def test_api_load_of_a_tensor_detaches_it_moves_it_to_the_cpu_and_widens_bfloat16(monkeypatch):
    Tensor, calls = _torch_stand_in(monkeypatch)
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    s = siamcli.load(Tensor(x))
    assert s.source == "<tensor>" and np.array_equal(s.vectors, x) and calls[:2] == ["detach", "cpu"]
    Parameter = type("Parameter", (Tensor,), {"__module__": "torch.nn.parameter"})  # a subclass is a tensor too
    assert np.array_equal(siamcli.load(Parameter(x)).vectors, x)
    assert siamcli.load(Tensor(x.astype(np.float64), "bfloat16")).vectors.dtype == np.float32
    ranking = siamcli.compare(Tensor(x), Tensor(x[::-1].copy()), metric="euclidean", top_k=1)
    assert ranking.topk()[1].ravel().tolist() == [3, 2, 1, 0]


def test_api_load_of_torch_tensors_equals_their_numpy_values():
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(6, 4)).astype(np.float32)
    tensor = torch.from_numpy(x).requires_grad_(True)
    assert np.array_equal(siamcli.load(tensor).vectors, x) and siamcli.load(tensor).vectors.dtype == np.float32
    assert siamcli.load(torch.nn.Parameter(torch.from_numpy(x))).vectors.dtype == np.float32
    bf16 = torch.from_numpy(x).to(torch.bfloat16)
    assert np.array_equal(siamcli.load(bf16).vectors, bf16.to(torch.float32).numpy())
    with pytest.raises(siamcli.InputError, match="^<tensor>: row 0, column 0 is NaN"):
        siamcli.load(torch.full((2, 2), float("nan")))


# ---------------------------------------------------------------- reprs


def _results() -> dict:
    """One of every result and report kind, from real calls on vectors of 300 dimensions."""
    from siamcli import engine
    from siamcli.reports import losses
    from siamcli.reports.diff import diff_spaces

    x = RNG.normal(size=(60, 300))
    y = RNG.normal(size=(80, 300))
    classes = np.repeat(["a", "b", "c"], 20)
    evaluation = siamcli.evaluate(x, classes=classes, bootstrap=20, folds=2)
    inspection = siamcli.inspect_embeddings(x, classes=classes, sample=60)
    d_ap, d_an = RNG.random(50), RNG.random(50)
    comp = siamcli.prepare(x[:5], y[:5])
    return {
        "Score": siamcli.compare(x[0], y[0]),
        "Ranking": siamcli.compare(x, y, top_k=5),
        "Ranking overall": siamcli.compare(x, limit=10),
        "Ranking paired": siamcli.compare(x[:5], y[:5], paired=True),
        "Verdicts": next(engine.verify(comp, 0.0, paired=True)),
        "MatrixResult": siamcli.matrix(x, y),
        "Evaluation": evaluation,
        "MetricEvaluation": evaluation.best,
        "VerificationReport": evaluation.best.verification,
        "RetrievalReport": evaluation.best.retrieval,
        "ScoreDistribution": evaluation.best.distribution,
        "ClassSummary": evaluation.best.distribution.positive,
        "InspectionReport": inspection,
        "ClassSeparation": inspection.classes,
        "SpaceDiff": diff_spaces(x, x[:, :50], top_k=3, pairs_sample=1000),
        "ContrastiveReport": losses.contrastive_loss(d_ap, RNG.random(50) < 0.5, 0.5),
        "TripletReport": losses.triplet_loss(d_ap, d_an, 0.2),
        "MarginSweep": losses.margin_sweep("triplet", d_ap, d_an),
        "MetricList": siamcli.MetricList(siamcli.available_metrics()),
    }


@pytest.fixture(scope="module")
def results():
    return _results()


@pytest.mark.parametrize("kind", [
    "Score", "Ranking", "Ranking overall", "Ranking paired", "Verdicts", "MatrixResult", "Evaluation",
    "MetricEvaluation", "VerificationReport", "RetrievalReport", "ScoreDistribution", "ClassSummary",
    "InspectionReport", "ClassSeparation", "SpaceDiff", "ContrastiveReport", "TripletReport", "MarginSweep",
    "MetricList"])
def test_api_repr_of_every_result_is_one_short_line(results, kind):
    result = results[kind]
    text = repr(result)
    assert isinstance(result, Result)
    assert text.startswith(type(result).__name__ + "(") and text.endswith(")")
    assert len(text) <= MAX_REPR and "\n" not in text, text
    assert "function" not in text and "lambda" not in text and "array(" not in text, text


def test_api_reprs_show_metric_shape_and_values(results):
    ranking, matrix, score = results["Ranking"], results["MatrixResult"], results["Score"]
    assert repr(score) == f"Score(cosine={score.value:.4g}, a='A', b='B')"
    assert repr(ranking).startswith("Ranking('cosine', 300 pairs per row of A, a='A', b='B', [0->")
    assert f"0->{ranking.b_index[0]} {ranking.score[0]:.4g}, " in repr(ranking)
    assert repr(matrix).startswith(f"MatrixResult('cosine', 60 x 80, a='A', b='B', [[{matrix.values[0, 0]:.4g}, ")
    best = results["Evaluation"].best.verification
    assert f"auc={best.auc:.4g}" in repr(results["Evaluation"]) and "1 result," in repr(results["Evaluation"])
    assert "60 x 300 float64" in repr(results["InspectionReport"])


def test_api_repr_of_sets_and_metrics_never_shows_vectors_or_kernels():
    big = siamcli.load(RNG.normal(size=(1000, 768)).astype(np.float32))
    assert repr(big) == "EmbeddingSet('<array>', 1000 x 768 float32)"
    frame = pd.DataFrame({"id": [f"row{i}" for i in range(5)], "v": list(np.eye(5)), "kind": list("aabbc")})
    assert repr(siamcli.load(frame, labels="kind")) == \
        "EmbeddingSet('<DataFrame>', 5 x 5 float64, ids=['row0', 'row1', 'row2', ...], labels=3 distinct)"
    for metric in siamcli.available_metrics():
        text = repr(metric)
        assert text.startswith(f"Metric({metric.name!r}, {metric.kind}, aliases=") and len(text) < 120, text
    comparison = siamcli.prepare(RNG.normal(size=(300, 40)), metric="mahalanobis", memory="64M")
    assert repr(comparison) == ("Comparison('mahalanobis', params=['center', 'whitener'], EmbeddingSet('A', 300 x 40 "
                                "float64) with itself, normalize=False, zero_vector='error', memory='64.0 MiB')")


def test_api_repr_of_intervals_is_short(results):
    intervals = results["Evaluation"].best.intervals
    text = repr(intervals)
    assert text.startswith(f"Intervals(auc=({intervals.auc[0]:.4g}, {intervals.auc[1]:.4g}), ")
    assert len(text) <= MAX_REPR and "\n" not in text


def test_api_a_new_report_dataclass_gets_the_short_repr_for_free():
    """A report added later (drift) is a @dataclass of Document: the Result base keeps its repr short."""

    @dataclasses.dataclass
    class NewReport(Document):
        vectors: np.ndarray
        name: str
        values: list

        def record(self) -> dict:
            return {"name": self.name}

    @dataclasses.dataclass
    class Special(NewReport):  # a parent's own repr is inherited, not replaced
        def __repr__(self) -> str:
            return "special"

    @dataclasses.dataclass
    class MoreSpecial(Special):
        extra: int = 0

    assert repr(MoreSpecial(np.ones(3), "x", [])) == "special"
    report = NewReport(np.ones((500, 500)), "x" * 500, list(range(1000)))
    assert repr(report) == "NewReport(vectors=<500 x 500 float64>, name='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', " \
                           "values=[0, 1, 2, ... 1000 in all])"
    assert report.to_pandas().to_dict("records") == [{"name": "x" * 500}]


# ---------------------------------------------------------------- topk


def brute_topk(a, b, k, metric="euclidean"):
    d = cdist(a, b, metric)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, axis=1), order


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 12), st.integers(1, 15), st.integers(0, 2**31))
def test_api_topk_equals_brute_force_and_pads_short_rows(n, m, k, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
    scores, indices = siamcli.compare(a, b, metric="euclidean", top_k=k).topk()
    want_scores, want_indices = brute_topk(a, b, k)
    kept = min(k, m)
    assert scores.shape == indices.shape == (n, kept)  # k defaults to the most pairs a row has
    assert np.array_equal(indices, want_indices)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-12, atol=1e-12)
    wide_scores, wide_indices = siamcli.compare(a, b, metric="euclidean", top_k=k).topk(k + 2)
    assert wide_scores.shape == (n, k + 2)
    assert np.array_equal(wide_indices[:, :kept], want_indices) and (wide_indices[:, kept:] == -1).all()
    assert np.isnan(wide_scores[:, kept:]).all() and not np.isnan(wide_scores[:, :kept]).any()


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(1, 30), st.integers(0, 2**31))
def test_api_topk_of_an_overall_ranking_keeps_each_rows_pairs_best_first(n, limit, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 4))
    ranking = siamcli.compare(a, metric="cosine", limit=limit)  # A with itself: each unordered pair once
    scores, indices = ranking.topk()
    listed = {(int(i), int(j)) for i, j in zip(ranking.a_index, ranking.b_index)}
    found = {(i, int(j)) for i in range(n) for j in indices[i] if j >= 0}
    assert found == listed
    sims = 1 - cdist(a, a, "cosine")
    for i in range(n):
        row = indices[i][indices[i] >= 0]
        np.testing.assert_allclose(scores[i, : len(row)], sims[i, row], atol=1e-12)
        assert np.all(np.diff(scores[i, : len(row)]) <= 1e-12)  # best (highest cosine) first
        assert np.isnan(scores[i, len(row):]).all() and (indices[i, len(row):] == -1).all()


def test_api_topk_of_paired_and_empty_rankings_and_bad_k():
    a = RNG.normal(size=(4, 3))
    scores, indices = siamcli.compare(a, a[::-1], paired=True).topk()
    assert indices.tolist() == [[0], [1], [2], [3]]
    np.testing.assert_allclose(scores[:, 0], [1 - cdist(a[i:i + 1], a[3 - i:4 - i], "cosine")[0, 0] for i in range(4)])
    empty = siamcli.compare(a, a * 2, threshold=2.0)  # no cosine reaches 2
    scores, indices = empty.topk()
    assert scores.shape == indices.shape == (4, 0)
    assert empty.topk(2)[1].tolist() == [[-1, -1]] * 4
    for bad in (-1, 1.5, True):
        with pytest.raises(siamcli.UsageError, match="^k must be a whole number >= 0"):
            empty.topk(bad)


# ---------------------------------------------------------------- to_pandas and records


def test_api_to_pandas_of_every_result_holds_its_records(results):
    for kind, result in results.items():
        records = list(result.records())
        frame = result.to_pandas()
        if kind == "MatrixResult":
            continue
        assert len(frame) == len(records), kind
        assert list(frame.columns) == list(records[0]), kind
        for name in frame.columns:
            values = frame[name].tolist()
            expected = [r[name] for r in records]
            if all(isinstance(v, float) for v in expected):
                np.testing.assert_allclose(np.array(values, float), expected, rtol=0, atol=0, err_msg=f"{kind} {name}")
            elif not any(isinstance(v, (list, dict, float)) for v in expected):
                assert values == expected, f"{kind} {name}"


def test_api_ranking_to_pandas_shows_text_fields_as_records_do():
    a = siamcli.load(pd.DataFrame({"id": ["x", "y"], "v": list(np.eye(2)), "text": ["ex", "why"]}), fields=["text"])
    ranking = siamcli.compare(a, np.array([[1.0, 0.0], [0.6, 0.8]]), top_k=2)
    assert ranking.to_pandas().to_dict("records") == list(ranking.records())


def test_api_matrix_to_pandas_is_the_matrix_labelled_by_ids():
    a = siamcli.load(pd.DataFrame({"id": ["x", "y"], "e1": [1.0, 0.0], "e2": [0.0, 2.0]}))
    result = siamcli.matrix(a, [[3.0, 4.0]], metric="euclidean")
    frame = result.to_pandas()
    assert frame.index.tolist() == ["x", "y"] and frame.columns.tolist() == ["0"]
    np.testing.assert_allclose(frame.to_numpy(), cdist([[1.0, 0.0], [0.0, 2.0]], [[3.0, 4.0]]))


def test_api_to_pandas_without_pandas_says_what_to_install(monkeypatch):
    ranking = siamcli.compare(np.eye(2), np.eye(2), top_k=1)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"^to_pandas\(\) needs pandas; pip install pandas$"):
        ranking.to_pandas()


# ---------------------------------------------------------------- memory as a size


def test_api_memory_takes_a_size_wherever_it_is_a_parameter():
    x, y = RNG.normal(size=(30, 6)), RNG.normal(size=(40, 6))
    assert siamcli.prepare(x, y, memory="512M").memory == 512 * 2**20
    assert siamcli.prepare(x, y, memory="1.5G").memory == int(1.5 * 2**30)
    by_size = siamcli.compare(x, y, top_k=3, memory="2M")
    by_bytes = siamcli.compare(x, y, top_k=3, memory=2 * 2**20)
    assert np.array_equal(by_size.b_index, by_bytes.b_index) and np.array_equal(by_size.score, by_bytes.score)
    assert np.array_equal(siamcli.matrix(x, y, memory="1M").values, siamcli.matrix(x, y).values)
    classes = np.repeat(["a", "b"], 15)
    assert siamcli.evaluate(x, classes=classes, memory="4M", bootstrap=0).best.verification.auc == \
        siamcli.evaluate(x, classes=classes, bootstrap=0).best.verification.auc
    import inspect

    takers = [name for name in siamcli.__all__ if callable(getattr(siamcli, name))
              and "memory" in getattr(inspect.signature(getattr(siamcli, name)), "parameters", {})]
    assert set(takers) == {"compare", "matrix", "prepare", "evaluate", "detect_drift"}
    extra = {"evaluate": {"classes": classes}, "detect_drift": {"current": y}}
    for name in takers:
        with pytest.raises(siamcli.UsageError, match="expected a size such as 512M or 2G, got 'lots'"):
            getattr(siamcli, name)(x, memory="lots", **extra.get(name, {}))


def test_evaluate_takes_label_pair_and_class_files_as_the_cli_reads_them():
    from siamcli.errors import UsageError
    from sklearn.metrics import roc_auc_score
    from scipy.spatial.distance import cdist

    root = os.path.join(os.path.dirname(__file__), "..", "examples", "siamese")
    emb, pairs = os.path.join(root, "test_embeddings.npy"), os.path.join(root, "test_pairs.csv")
    table = np.loadtxt(pairs, delimiter=",", skiprows=1, dtype=np.int64)
    x = np.load(emb).astype(np.float64)
    from_file = siamcli.evaluate(emb, pairs=pairs, folds=2, bootstrap=0)
    similarity = 1 - cdist(x, x, "cosine")[table[:, 0], table[:, 1]]
    assert from_file.best.verification.auc == pytest.approx(roc_auc_score(table[:, 2], similarity), abs=1e-6)
    listed = siamcli.evaluate(emb, pairs=(table[:, 0], table[:, 1], table[:, 2].astype(str)), folds=2, bootstrap=0)
    assert from_file.best.verification.auc == listed.best.verification.auc
    classes = os.path.join(root, "test_labels.txt")
    by_file = siamcli.evaluate(emb, classes=classes, folds=2, bootstrap=0, sample=2000)
    by_list = siamcli.evaluate(emb, classes=Path(classes).read_text().split(), folds=2, bootstrap=0, sample=2000)
    assert by_file.best.verification.auc == by_list.best.verification.auc
    with pytest.raises(UsageError, match="pairs must be a file of pairs or"):
        siamcli.evaluate(emb, pairs=(table[:, 0], table[:, 1]))


@pytest.mark.parametrize("same", [True, False])
@pytest.mark.parametrize("shape, dtype", [((6, 5), np.float64), ((5, 6), np.float32), ((4, 5), np.float64),
                                          ((25,), np.float64), ((5, 5), np.int64), ((5, 5), np.bool_)])
def test_matrix_into_an_out_of_the_wrong_shape_or_type_is_refused_and_left_alone(same, shape, dtype):
    """siamcli.matrix(out=...) fills an array of (len(A), len(B)) floats. A bigger one came back as
    the result with rows past A's left as they were (6 x 5 for 5 x 5 scores); integers held
    truncated scores (cosine 0.72 as 0), or a TypeError on a set against itself."""
    x = np.random.default_rng(0).normal(size=(5, 3))
    out = np.full(shape, 7, dtype=dtype)
    before = out.copy()
    with pytest.raises(siamcli.UsageError, match="out"):
        siamcli.matrix(x, None if same else x.copy(), out=out)
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_matrix_into_an_out_of_any_float_type_holds_the_scores(dtype):
    x = np.random.default_rng(1).normal(size=(6, 3))
    out = np.empty((6, 4), dtype)
    got = siamcli.matrix(x, x[:4] * 2, metric="euclidean", out=out)
    assert got.values is out
    np.testing.assert_allclose(out, cdist(x, x[:4] * 2), rtol=float(np.finfo(dtype).eps) * 4)


@pytest.mark.parametrize("which", ["a", "b", "self"])
def test_matrix_into_an_out_that_is_an_input_is_refused(which):
    """Scores written over the vectors still to be read: out=A of a 3000 x 3000 A against itself gave
    euclidean distances off by up to 3.5e3 (out=B: 6e92), in silence."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 40)), rng.normal(size=(40, 40))
    before = (a.copy(), b.copy())
    out = {"a": a, "b": b, "self": a}[which]
    with pytest.raises(siamcli.UsageError, match="out"):
        siamcli.matrix(a, None if which == "self" else b, metric="euclidean", out=out[:, :] if which == "b" else out)
    np.testing.assert_array_equal(a, before[0])
    np.testing.assert_array_equal(b, before[1])
