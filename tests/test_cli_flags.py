"""The CLI speaks of flags: every parameter the library mentions in an error is a flag some command
declares; an entry-point plugin's metric parameter is an option without loading plugins at start-up."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.distance import cdist

import siamcli
from siamcli.cli import cli, flag_name
from siamcli.cli.metric_params import SiamCommand
from siamcli.metrics import METRICS, Metric, Param, registry

SOURCE = Path(siamcli.__file__).parent
LIBRARY = [p for p in SOURCE.rglob("*.py") if p.relative_to(SOURCE).parts[0] not in ("cli", "__main__.py")]


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout by default
    except TypeError:
        return CliRunner()


def _commands(group: click.Group, path=("siamcli",)):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def _declared_flags() -> dict[str, list[str]]:
    """Every flag of every command of the group (metric parameters included) -> the commands declaring it."""
    flags: dict[str, list[str]] = {}
    for path, command in _commands(cli):
        ctx = click.Context(command, info_name=path[-1], **command.context_settings)  # -h as in a run
        for param in command.get_params(ctx):
            for opt in (*param.opts, *param.secondary_opts):
                flags.setdefault(opt, []).append(" ".join(path))
    return flags


def test_flag_name_every_mentioned_parameter_is_a_declared_flag():
    mentioned = set()
    for path in LIBRARY:
        mentioned |= set(re.findall(r"""mention\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\)""", path.read_text()))
    # record.py mentions metric parameters by variable: every registered metric's parameters
    mentioned |= {param.name for metric in METRICS.values() for param in metric.params}
    assert {"zero_vector", "output", "top_k", "max_input_size", "p", "cov_from"} <= mentioned  # the scan works
    flags = _declared_flags()
    missing = {param: flag_name(param) for param in sorted(mentioned) if flag_name(param) not in flags}
    assert not missing, f"parameters the library mentions with no such flag on any command: {missing}"


def test_flag_name_maps_output_to_o_and_dashes_the_rest():
    assert flag_name("output") == "-o"
    assert flag_name("top_k") == "--top-k"
    assert flag_name("cov_from") == "--cov-from"
    assert (flag_name("fars"), flag_name("ks")) == ("--far", "--recall-k")  # siamcli.evaluate's parameters
    assert {"-o", "--far", "--recall-k"} <= set(_declared_flags())


def test_cli_every_command_completes_its_metric_options():
    """A command built with plain click would show the slot, not the parameters."""
    for path, command in _commands(cli):
        assert isinstance(command, SiamCommand), " ".join(path)
    assert "--p" in _declared_flags()


class _EntryPoint:
    def __init__(self, name, obj):
        self.name, self.value, self._obj = name, f"fake_plugin:{name}", obj

    def load(self):
        return self._obj


def _w_manhattan() -> Metric:
    w = Param("w", "Weight of w_manhattan (default 1).", default=1.0,
              check=lambda value: None if value > 0 else "must be positive")
    return Metric("w_manhattan", "distance",
                  lambda a, b, params: params.w * np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2),
                  lambda a, b, params: params.w * np.abs(a - b).sum(axis=1),
                  lambda u, v, params: params.w * sum(abs(x - y) for x, y in zip(u, v)),
                  "w times the manhattan distance (test plugin)", params=(w,))


@pytest.fixture
def entry_point_plugin(monkeypatch):
    """w_manhattan declared through a fake entry point, not yet loaded; the registry restored after."""
    import importlib.metadata

    loads = []

    def entry_points(group=None, **kw):
        loads.append(group)
        return [_EntryPoint("w_manhattan", _w_manhattan())] if group == registry.ENTRY_POINT_GROUP else []

    saved = (dict(registry.METRICS), dict(registry._lookup), registry._plugins_loaded)
    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry._plugins_loaded = False
    yield loads
    registry.METRICS.clear()
    registry.METRICS.update(saved[0])
    registry._lookup.clear()
    registry._lookup.update(saved[1])
    registry._plugins_loaded = saved[2]


def _save(tmp_path):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    return a, b


def test_cli_plugin_metric_parameter_is_an_option(entry_point_plugin, tmp_path):
    a, b = _save(tmp_path)
    result = _runner().invoke(cli, ["matrix", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"),
                                    "-m", "w_manhattan", "--w", "2.5", "-f", "json"])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(json.loads(result.stdout)["values"], 2.5 * cdist(a, b, "cityblock"), rtol=1e-12)
    assert entry_point_plugin == [registry.ENTRY_POINT_GROUP]


def test_cli_plugin_metric_parameter_error_names_its_flag(entry_point_plugin, tmp_path):
    _save(tmp_path)
    bad = _runner().invoke(cli, ["compare", str(tmp_path / "a.npy"), "-m", "w_manhattan", "--w=-1"])
    assert (bad.exit_code, bad.stdout) == (2, "")
    assert bad.stderr.strip() == "Error: --w must be positive for w_manhattan, got -1.0"


def test_cli_plugin_metric_parameter_shows_in_help(entry_point_plugin):
    for args in (["compare", "--help"], ["evaluate", "-h"], ["loss", "triplet", "--help"]):
        result = _runner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert re.search(r"^\s+--w NUMBER\s+Weight of w_manhattan", result.stdout, re.M), args


def test_cli_known_options_do_not_load_plugins(entry_point_plugin, tmp_path):
    """Start-up: a run with built-in options only never reads the installed packages' entry points."""
    a, b = _save(tmp_path)
    result = _runner().invoke(cli, ["compare", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "-m", "minkowski",
                                    "--p", "3", "-k", "1", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert entry_point_plugin == []
    assert json.loads(result.stdout)[0]["score"] == pytest.approx(cdist(a, b, "minkowski", p=3)[0].min(), rel=1e-12)


def test_cli_unknown_option_is_refused_after_plugins_are_read(entry_point_plugin, tmp_path):
    _save(tmp_path)
    bad = _runner().invoke(cli, ["compare", str(tmp_path / "a.npy"), "--nope", "1"])
    assert (bad.exit_code, bad.stdout) == (2, "")
    assert bad.stderr.startswith("Error: No such option")
    assert "--nope" in bad.stderr
    assert entry_point_plugin == [registry.ENTRY_POINT_GROUP]
