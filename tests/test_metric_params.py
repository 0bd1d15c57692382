"""Metric parameters as data: a metric registered at run time with a Param works through the
library and the CLI with nothing else changed, and no module outside siamcli/metrics names a metric."""

from __future__ import annotations

import ast
import importlib
import json
import pathlib

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.distance import cdist

import siamcli
from siamcli import engine
from siamcli.errors import UsageError
from siamcli.metrics import Metric, Param, registry

ROOT = pathlib.Path(siamcli.__file__).parent


def _q_manhattan() -> Metric:
    """q times the manhattan distance: a plugin metric with a parameter q > 0 (default 1)."""

    def matrix(a, b, params):
        return params.q * np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2)

    def paired(a, b, params):
        return params.q * np.abs(a - b).sum(axis=1)

    q = Param("q", "Scale of q_manhattan (default 1).", default=1.0,
              check=lambda value: None if value > 0 else "must be positive")
    return Metric("q_manhattan", "distance", matrix, paired,
                  lambda u, v, params: params.q * sum(abs(x - y) for x, y in zip(u, v)),
                  "q times the manhattan distance (test plugin)", aliases=("ql1",), params=(q,))


@pytest.fixture
def q_metric():
    """q_manhattan registered, and a CLI built after it (as when a plugin is registered first)."""
    saved = (dict(registry.METRICS), dict(registry._lookup))
    registry.register(_q_manhattan())
    import siamcli.cli

    cli = importlib.reload(siamcli.cli)
    yield cli
    registry.METRICS.clear()
    registry.METRICS.update(saved[0])
    registry._lookup.clear()
    registry._lookup.update(saved[1])
    importlib.reload(siamcli.cli)


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout by default
    except TypeError:
        return CliRunner()


def _data(tmp_path):
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    return a, b


def test_plugin_param_scores_through_the_library(q_metric, tmp_path):
    a, b = _data(tmp_path)
    got = engine.fill_matrix(engine.prepare(a, b, metric="q_manhattan", q=3.0))
    np.testing.assert_allclose(got, 3.0 * cdist(a, b, "cityblock"), rtol=1e-12)
    default = siamcli.matrix(a, b, metric="ql1").values
    np.testing.assert_allclose(default, cdist(a, b, "cityblock"), rtol=1e-12)
    comp = engine.prepare(a, b, metric="q_manhattan", q=2.0)
    best = [(r["a_index"], r["b_index"], r["score"]) for chunk in engine.rankings(comp, top_k=1) for r in chunk.records()]
    brute = 2.0 * cdist(a, b, "cityblock")
    assert [(i, int(np.argmin(brute[i]))) for i in range(len(a))] == [(i, j) for i, j, _ in best]
    np.testing.assert_allclose([s for *_, s in best], brute.min(axis=1), rtol=1e-12)


def test_plugin_param_is_checked_by_the_record(q_metric):
    a = np.eye(3)
    with pytest.raises(UsageError, match="^q must be positive for q_manhattan, got -1$"):
        engine.prepare(a, metric="q_manhattan", q=-1)
    with pytest.raises(UsageError, match="^q applies to q_manhattan only, not to cosine$"):
        engine.prepare(a, metric="cosine", q=2.0)
    with pytest.raises(UsageError, match="^p applies to minkowski only, not to q_manhattan$"):
        siamcli.matrix(a, metric="q_manhattan", p=3.0)


def test_plugin_param_scores_through_the_cli(q_metric, tmp_path):
    a, b = _data(tmp_path)
    runner = _runner()
    result = runner.invoke(q_metric.cli, ["matrix", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"),
                                           "-m", "q_manhattan", "--q", "3", "-f", "json"])
    assert result.exit_code == 0, result.output
    values = np.array(json.loads(result.stdout)["values"])
    np.testing.assert_allclose(values, 3.0 * cdist(a, b, "cityblock"), rtol=1e-12)


def test_plugin_param_errors_on_the_cli_name_the_flag(q_metric, tmp_path):
    _data(tmp_path)
    runner = _runner()
    bad = runner.invoke(q_metric.cli, ["matrix", str(tmp_path / "a.npy"), "-m", "q_manhattan", "--q", "-1"])
    assert bad.exit_code == 2
    assert bad.stdout == ""
    assert bad.stderr.strip() == "Error: --q must be positive for q_manhattan, got -1.0"
    other = runner.invoke(q_metric.cli, ["compare", str(tmp_path / "a.npy"), "-m", "cosine", "--q", "3"])
    assert other.exit_code == 2
    assert other.stderr.strip() == "Error: --q applies to q_manhattan only, not to cosine"
    same_as_p = runner.invoke(q_metric.cli, ["compare", str(tmp_path / "a.npy"), "-m", "cosine", "--p", "3"])
    assert same_as_p.stderr.strip() == "Error: --p applies to minkowski only, not to cosine"


def test_adding_a_metric_is_one_registration(q_metric, tmp_path):
    """The registered metric is listed, resolved by alias, and compared: nothing else was edited."""
    a, b = _data(tmp_path)
    runner = _runner()
    listed = runner.invoke(q_metric.cli, ["metrics", "-f", "json"])
    assert "q_manhattan" in [m["name"] for m in json.loads(listed.stdout)]
    compared = runner.invoke(q_metric.cli, ["compare", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"),
                                             "-m", "QL1", "-k", "1", "-f", "json"])
    assert compared.exit_code == 0, compared.output
    records = json.loads(compared.stdout)
    rows = records if isinstance(records, list) else records["matches"]
    assert {r["metric"] for r in rows} == {"q_manhattan"}
    np.testing.assert_allclose(sorted(r["score"] for r in rows), sorted(cdist(a, b, "cityblock").min(axis=1)))
    assert "--q" in runner.invoke(q_metric.cli, ["matrix", "--help"]).stdout


def test_metric_bind_fills_defaults_and_keeps_values():
    params = siamcli.get_metric("minkowski").bind({"p": None})
    assert params.p == 2.0
    assert siamcli.get_metric("lp").bind(p=float("inf")).p == float("inf")
    with pytest.raises(UsageError, match="must be positive"):
        siamcli.get_metric("minkowski").bind(p=float("nan"))
    assert siamcli.get_metric("cosine").bind({"p": None, "cov_from": None}).values == {}
    with pytest.raises(UsageError, match="^zz is not a parameter of cosine"):
        siamcli.get_metric("cosine").bind(zz=1)


# ---------------------------------------------------------------- nothing outside metrics/ names a metric

#: Default metrics of signatures and options: documented defaults, not branches on a metric.
ALLOWED_DEFAULTS = {"cosine", "euclidean"}
#: Strings that name a metric but mean something else: diff's record key for the neighbourhood overlap.
ALLOWED_WORDS = {("reports/diff/neighbours.py", "jaccard")}


def _metric_names() -> set[str]:
    return {n.lower() for m in registry.BUILTIN_METRICS for n in (m.name, *m.aliases)}


def _defaults(tree: ast.AST) -> set[int]:
    """ids of the constants that are parameter defaults or `default=` keywords."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            found |= {id(d) for d in [*node.args.defaults, *node.args.kw_defaults] if d is not None}
        if isinstance(node, ast.keyword) and node.arg == "default":
            found.add(id(node.value))
    return found


def test_no_module_outside_metrics_names_a_metric():
    names, offences = _metric_names(), []
    for path in sorted(ROOT.rglob("*.py")):
        if "metrics" in path.relative_to(ROOT).parts:
            continue
        tree = ast.parse(path.read_text())
        defaults = _defaults(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in names:
                if id(node) in defaults and node.value in ALLOWED_DEFAULTS:
                    continue
                if (str(path.relative_to(ROOT)), node.value) in ALLOWED_WORDS:
                    continue
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert offences == []
