"""`siamcli inspect` and `siamcli loss` from the command line.

Figures are checked against plain numpy/scipy computations written here (eigenvalues of the
covariance, pdist cosines, per-pair loss formulas), never against siamcli's own output.
"""

from __future__ import annotations

import csv
import json
import io
from pathlib import Path

import numpy as np
import pytest

from scipy.spatial.distance import cdist, pdist
from sklearn.datasets import load_digits

from siamcli.output import FORMATTERS
from test_cli import assert_one_error_line, invoke, parse_jsonl, run, strict_json

INSPECT_KEYS = {"n", "dim", "dtype", "effective_rank", "mean_cosine", "collapsed", "warnings"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("diag")
    d = load_digits()
    np.save(tmp / "digits.npy", d.data)
    (tmp / "classes.txt").write_text("\n".join(map(str, d.target)) + "\n")
    rng = np.random.default_rng(0)
    collapsed = np.ones((500, 32)) * 3.0 + rng.normal(scale=1e-3, size=(500, 32))
    np.save(tmp / "collapsed.npy", collapsed)
    return tmp, d.data, d.target


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_inspect_digits_is_healthy_and_figures_match_numpy(files, entry):
    tmp, x, _ = files
    code, out, err = invoke(entry, "inspect", tmp / "digits.npy", "-f", "json")
    assert code == 0, err
    report = strict_json(out)
    assert isinstance(report, dict) and INSPECT_KEYS <= set(report)
    assert (report["n"], report["dim"], report["dtype"]) == (1797, 64, "float64")
    assert report["collapsed"] is False
    eig = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False)), 0, None)
    share = eig / eig.sum()
    share = share[share > 0]
    assert report["effective_rank"] == pytest.approx(np.exp(-(share * np.log(share)).sum()), rel=1e-6)
    assert report["mean_cosine"] == pytest.approx(np.mean(1 - pdist(x, "cosine")), rel=1e-9)
    assert report["dead_dimensions"] == int((x.var(axis=0) == 0).sum())
    assert any("dead" in w for w in report["warnings"])


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_inspect_reports_a_collapsed_embedding(files, entry):
    tmp, *_ = files
    code, out, err = invoke(entry, "inspect", tmp / "collapsed.npy", "-f", "json")
    report = strict_json(out)
    assert code == 0 and report["collapsed"] is True
    assert any("collapsed" in w for w in report["warnings"])
    table = run("inspect", tmp / "collapsed.npy", "-f", "table", env={"COLUMNS": "120"})
    assert "collapsed" in table.stdout.splitlines()[2] and "YES" in table.stdout


def test_inspect_classes_match_brute_force(files):
    tmp, x, y = files
    result = run("inspect", tmp / "digits.npy", "--classes", tmp / "classes.txt", "-f", "json")
    classes = strict_json(result.stdout)["classes"]
    d = cdist(x, x)
    i, j = np.triu_indices(len(x), 1)
    same = y[i] == y[j]
    assert classes["intra_mean"] == pytest.approx(d[i, j][same].mean(), rel=1e-9)
    assert classes["inter_mean"] == pytest.approx(d[i, j][~same].mean(), rel=1e-9)
    row = next(r for r in classes["per_class"] if r["class"] == "3")  # labels read from a file are text
    members = np.flatnonzero(y == 3)
    a, b = np.triu_indices(len(members), 1)
    assert row["count"] == len(members)
    assert row["intra_mean"] == pytest.approx(d[np.ix_(members, members)][a, b].mean(), rel=1e-9)


def test_inspect_classes_from_a_column_of_the_file(tmp_path):
    rng = np.random.default_rng(2)
    x = np.r_[rng.normal(0, 1, (20, 3)), rng.normal(5, 1, (20, 3))]
    lines = ["x,y,z,who"] + [f"{a},{b},{c},{'ann' if k < 20 else 'bob'}" for k, (a, b, c) in enumerate(x)]
    (tmp_path / "e.csv").write_text("\n".join(lines) + "\n")
    result = run("inspect", tmp_path / "e.csv", "--classes-column", "who", "-f", "json")
    report = strict_json(result.stdout)
    assert report["dim"] == 3 and report["classes"]["n_classes"] == 2
    assert report["classes"]["separated_fraction"] == 1.0


@pytest.mark.parametrize("fmt", list(FORMATTERS))
def test_inspect_every_output_format(files, fmt):
    tmp, *_ = files
    result = run("inspect", tmp / "digits.npy", "--classes", tmp / "classes.txt", "-f", fmt, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stderr
    if fmt == "jsonl":
        [record] = parse_jsonl(result.stdout)
        assert record["n"] == 1797
    elif fmt in ("csv", "tsv"):
        rows = list(csv.DictReader(io.StringIO(result.stdout), delimiter="," if fmt == "csv" else "\t"))
        assert len(rows) == 1 and rows[0]["n"] == "1797" and rows[0]["collapsed"] == "false"
        assert "norm_quantiles.50%" in rows[0] and "classes.separation" in rows[0]
    elif fmt == "table":
        assert "1797 vectors of 64 dimensions" in result.stdout and "effective rank" in result.stdout


def test_inspect_plot_writes_a_png(files, tmp_path):
    pytest.importorskip("matplotlib")
    tmp, *_ = files
    result = run("inspect", tmp / "digits.npy", "--classes", tmp / "classes.txt", "--plot", tmp_path / "h.png",
                 "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_inspect_bad_classes_count_exits_2(files, tmp_path):
    tmp, *_ = files
    (tmp_path / "few.txt").write_text("1\n2\n")
    result = run("inspect", tmp / "digits.npy", "--classes", tmp_path / "few.txt")
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, ["few.txt", "1797"])


# ---------------------------------------------------------------- loss


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(5)
    left, right = rng.normal(size=(60, 4)), rng.normal(size=(60, 4))
    similar = rng.random(60) < 0.5
    right[similar] = left[similar] + rng.normal(scale=0.3, size=(int(similar.sum()), 4))
    np.save(tmp_path / "l.npy", left)
    np.save(tmp_path / "r.npy", right)
    (tmp_path / "y.txt").write_text("\n".join("1" if s else "0" for s in similar) + "\n")
    return tmp_path, left, right, similar


def _contrastive(d, y, m):
    return np.mean([yi * di**2 + (1 - yi) * max(0.0, m - di) ** 2 for di, yi in zip(d, y)])


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_loss_contrastive_matches_the_formula(pairs, entry):
    tmp, left, right, similar = pairs
    code, out, err = invoke(entry, "loss", "contrastive", tmp / "l.npy", tmp / "r.npy", "--labels", tmp / "y.txt",
                            "--margin", "1.5", "-f", "json")
    assert code == 0, err
    [record] = strict_json(out)
    d = np.linalg.norm(left - right, axis=1)
    assert record["kind"] == "contrastive" and record["n"] == 60 and record["margin"] == 1.5
    assert record["loss"] == pytest.approx(_contrastive(d, similar, 1.5), rel=1e-12)
    assert record["active_negative_fraction"] == pytest.approx(np.mean(d[~similar] < 1.5))


def test_loss_contrastive_from_a_pair_list_and_cosine_distance(tmp_path):
    x = np.array([[1.0, 0.0], [1.0, 0.2], [0.0, 1.0]])
    np.save(tmp_path / "e.npy", x)
    (tmp_path / "p.csv").write_text("left,right,label\n0,1,1\n0,2,0\n1,2,0\n")
    result = run("loss", "contrastive", tmp_path / "e.npy", "--pairs", tmp_path / "p.csv", "-m", "cosine_distance",
                 "--margin", "0.5", "-f", "jsonl")
    [record] = parse_jsonl(result.stdout)
    d = np.array([cdist(x[[a]], x[[b]], "cosine")[0, 0] for a, b in ((0, 1), (0, 2), (1, 2))])
    assert record["loss"] == pytest.approx(_contrastive(d, [1, 0, 0], 0.5), rel=1e-12)


def test_loss_sweep_is_monotone_in_the_margin(pairs):
    tmp, left, right, similar = pairs
    result = run("loss", "contrastive", tmp / "l.npy", tmp / "r.npy", "--labels", tmp / "y.txt", "--sweep",
                 "--margins", "0,0.5,1,2,4", "-f", "json")
    rows = strict_json(result.stdout)
    d = np.linalg.norm(left - right, axis=1)
    assert [r["margin"] for r in rows] == [0, 0.5, 1, 2, 4]
    assert [r["loss"] for r in rows] == pytest.approx([_contrastive(d, similar, m) for m in (0, 0.5, 1, 2, 4)])
    assert [r["active_fraction"] for r in rows] == sorted(r["active_fraction"] for r in rows)


def test_loss_triplet_matches_the_formula_and_counts_hard_triplets(tmp_path):
    rng = np.random.default_rng(9)
    a, p, n = rng.normal(size=(50, 5)), rng.normal(size=(50, 5)), rng.normal(size=(50, 5))
    for name, x in (("a", a), ("p", p), ("n", n)):
        np.save(tmp_path / f"{name}.npy", x)
    result = run("loss", "triplet", tmp_path / "a.npy", tmp_path / "p.npy", tmp_path / "n.npy", "--margin", "0.3",
                 "-f", "json")
    [record] = strict_json(result.stdout)
    d_ap, d_an = np.linalg.norm(a - p, axis=1), np.linalg.norm(a - n, axis=1)
    assert record["loss"] == pytest.approx(np.mean(np.maximum(0, d_ap - d_an + 0.3)), rel=1e-12)
    assert record["hard_fraction"] == pytest.approx(np.mean(d_an - d_ap <= 0))
    table = run("loss", "triplet", tmp_path / "a.npy", tmp_path / "p.npy", tmp_path / "n.npy", "--sweep",
                "-f", "table", env={"COLUMNS": "120"})
    assert table.exit_code == 0 and "semi hard" in table.stdout


@pytest.mark.parametrize("args, needles", [
    (["contrastive", "{l}", "{r}", "--labels", "{y}", "-m", "cosine"], ["cosine", "cosine_distance"]),
    (["contrastive", "{l}", "{r}"], ["--labels", "--pairs"]),
    (["contrastive", "{l}", "{r}", "--labels", "{y}", "--margin", "-1"], ["margin"]),
    (["triplet", "{l}", "{r}", "{short}"], ["same number of rows"]),
])
def test_loss_bad_usage_exits_2(pairs, args, needles):
    tmp, *_ = pairs
    np.save(tmp / "short.npy", np.ones((3, 4)))
    names = {"l": tmp / "l.npy", "r": tmp / "r.npy", "y": tmp / "y.txt", "short": tmp / "short.npy"}
    result = run("loss", *[a.format(**names) for a in args])
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, needles)


@pytest.mark.parametrize("fmt", list(FORMATTERS))
@pytest.mark.parametrize("sweep", [False, True])
def test_loss_every_output_format(pairs, fmt, sweep):
    tmp, *_ = pairs
    result = run("loss", "contrastive", tmp / "l.npy", tmp / "r.npy", "--labels", tmp / "y.txt",
                 *(["--sweep", "--margins", "0.5,1"] if sweep else []), "-f", fmt, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stderr
    expected_rows = 2 if sweep else 1
    if fmt == "json":
        assert [r["kind"] for r in strict_json(result.stdout)] == ["contrastive"] * expected_rows
    elif fmt == "jsonl":
        assert len(parse_jsonl(result.stdout)) == expected_rows
    elif fmt in ("csv", "tsv"):
        rows = list(csv.DictReader(io.StringIO(result.stdout), delimiter="," if fmt == "csv" else "\t"))
        assert len(rows) == expected_rows and {"margin", "loss", "active_fraction"} <= set(rows[0])
    else:
        assert "contrastive loss over 60 pairs" in result.stdout


def test_cli_inspect_a_million_dimensions_and_fortran_order(tmp_path):
    wide = np.random.default_rng(31).standard_normal((5, 1_000_000)).astype(np.float32)
    np.save(tmp_path / "wide.npy", wide)
    np.save(tmp_path / "f.npy", np.asfortranarray(wide[:, :50].T.copy()))
    for name, dim in (("wide.npy", 1_000_000), ("f.npy", 5)):
        result = run("inspect", tmp_path / name, "-f", "json")
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["dim"] == dim and report["effective_rank"] is not None


def test_cli_out_of_memory_is_one_line_saying_what_and_how_big_exit_2(monkeypatch):
    from siamcli import engine

    def fail(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.28 TiB for an array with shape (1000000, 1000000) and data type float64")

    monkeypatch.setattr(engine, "fill_matrix", fail)
    result = run("matrix", "examples/queries.csv", "-f", "json")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: out of memory: Unable to allocate 7.28 TiB")


@pytest.mark.parametrize("args", [["inspect", "examples/siamese/test_embeddings.npy", "--seed", "-1"],
                                  ["evaluate", "examples/siamese/test_embeddings.npy", "--classes",
                                   "examples/siamese/test_labels.txt", "--seed", "-1"],
                                  ["loss", "contrastive", "examples/siamese/test_embeddings.npy", "--pairs",
                                   "examples/siamese/test_pairs.csv", "--margin", "1e308"]])
def test_cli_negative_seeds_and_overflowing_losses_are_one_error_line(args):
    result = run(*args)
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "internal" not in lines[0]
