"""Shell completion through click's machinery ($_SIAMCLI_COMPLETE): metric names and aliases, formats and
input files, through CliRunner, the installed executable and a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from siamcli.cli import cli
from siamcli.io import FORMATS
from siamcli.metrics import BUILTIN_METRICS, Metric
from siamcli.metrics import registry
from siamcli.output import FORMATTERS

NAMES = {name for m in BUILTIN_METRICS for name in (m.name, *m.aliases)}
DISTANCES = {name for m in BUILTIN_METRICS if m.kind == "distance" for name in (m.name, *m.aliases)}


def complete(words: str, shell: str = "bash", incomplete: bool = True) -> list[str]:
    """What siamcli answers for the last word of `words` (or for a new word after them)."""
    cword = len(words.split()) - (1 if incomplete else 0)
    result = CliRunner().invoke(cli, [], prog_name="siamcli", env={
        "_SIAMCLI_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def values(lines: list[str]) -> set[str]:
    assert all(line.startswith("plain,") for line in lines), lines
    return {line.split(",", 1)[1] for line in lines}


@pytest.mark.parametrize("command", ["compare a b", "matrix a", "verify a b", "inspect a", "diff a b"])
def test_completion_metric_option_offers_every_name_and_alias_with_the_prefix(command):
    assert values(complete(f"siamcli {command} --metric cos")) == {n for n in NAMES if n.startswith("cos")}
    assert values(complete(f"siamcli {command} -m L")) == {n for n in NAMES if n.startswith("l")}
    assert values(complete(f"siamcli {command} -m", incomplete=False)) == NAMES


def test_completion_diff_metric_b_offers_metrics():
    assert values(complete("siamcli diff a b --metric-b eu")) == {"euclidean"}


def test_completion_evaluate_offers_all_and_completes_each_name_of_a_comma_list():
    assert values(complete("siamcli evaluate e --metric a")) == {n for n in NAMES if n.startswith("a")} | {"all"}
    assert values(complete("siamcli evaluate e -m cosine,eu")) == {"cosine,euclidean"}
    listed = values(complete("siamcli evaluate e -m cosine,"))
    assert listed == {f"cosine,{n}" for n in NAMES | {"all"} if n != "cosine"}


@pytest.mark.parametrize("loss", ["contrastive l r", "triplet a p n"])
def test_completion_loss_offers_distances_only(loss):
    assert values(complete(f"siamcli loss {loss} -m co")) == {n for n in DISTANCES if n.startswith("co")}
    assert "cosine" not in values(complete(f"siamcli loss {loss} -m", incomplete=False))


def test_completion_input_and_output_formats_come_from_the_registries():
    assert values(complete("siamcli compare a --input-format n")) == {f for f in FORMATS if f.startswith("n")}
    assert values(complete("siamcli inspect a --input-format", incomplete=False)) == set(FORMATS)
    assert values(complete("siamcli metrics -f j")) == {f for f in FORMATTERS if f.startswith("j")}
    assert values(complete("siamcli evaluate e --zero-vector n")) == {"nan"}


@pytest.mark.parametrize("words", ["siamcli compare ex", "siamcli compare a ex", "siamcli evaluate ex",
                                   "siamcli loss triplet a p ex", "siamcli diff a ex", "siamcli compare a --pairs ex"])
def test_completion_inputs_complete_as_file_names(words):
    assert complete(words) == ["file,ex"]


def test_completion_commands_and_options_complete():
    assert values(complete("siamcli ev")) == {"evaluate"}
    assert values(complete("siamcli loss t")) == {"triplet"}
    assert "--top-k" in values(complete("siamcli compare a --to"))


def test_completion_zsh_shows_each_metrics_summary():
    lines = complete("siamcli compare a -m jensen", shell="zsh")
    summary = next(m.summary for m in BUILTIN_METRICS if m.name == "jensenshannon")
    assert lines == ["plain", "jensenshannon", summary, "plain", "jensen_shannon", "alias of jensenshannon"]


@pytest.fixture
def extra_metric():
    """A metric registered at run time (as a plugin is), removed afterwards."""
    saved = (dict(registry.METRICS), dict(registry._lookup))
    reference = BUILTIN_METRICS[4]  # euclidean's kernels under another name
    registry.register(Metric(name="zz_plugin", kind="distance", matrix=reference.matrix, paired=reference.paired,
                             reference=reference.reference, summary="a plugin's metric", aliases=("zz_alias",)))
    yield
    registry.METRICS.clear()
    registry.METRICS.update(saved[0])
    registry._lookup.clear()
    registry._lookup.update(saved[1])


def test_completion_offers_a_metric_registered_at_run_time(extra_metric):
    assert values(complete("siamcli compare a -m zz")) == {"zz_plugin", "zz_alias"}
    assert values(complete("siamcli loss triplet a p n -m zz")) == {"zz_plugin", "zz_alias"}


def executable() -> str:
    found = shutil.which("siamcli", path=os.path.dirname(sys.executable)) or shutil.which("siamcli")
    assert found, "the siamcli console script is not installed next to this Python"
    return found


@pytest.mark.slow
def test_completion_through_the_installed_executable_is_what_clirunner_gets():
    words = "siamcli evaluate e --metric cosine,eu"
    run = subprocess.run([executable()], capture_output=True, text=True, timeout=60, env=dict(
        os.environ, _SIAMCLI_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD="4"))
    assert run.returncode == 0 and run.stderr == ""
    assert run.stdout.splitlines() == complete(words) == ["plain,cosine,euclidean"]


@pytest.mark.slow
@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _siamcli_completion siamcli"),
                                           ("zsh", "#compdef siamcli"),
                                           ("fish", "complete --no-files --command siamcli")])
def test_completion_scripts_are_printed_for_each_shell(shell, marker):
    run = subprocess.run([executable()], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, _SIAMCLI_COMPLETE=f"{shell}_source"))
    assert run.returncode == 0 and marker in run.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_completion_in_a_real_bash_fills_compreply(tmp_path):
    """The script a user sources, run by bash as Tab would: COMPREPLY holds the metric names."""
    script = subprocess.run([executable()], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, _SIAMCLI_COMPLETE="bash_source")).stdout
    (tmp_path / "complete.bash").write_text(script)
    probe = ('source ./complete.bash; COMP_WORDS=(siamcli loss triplet a p n -m co); COMP_CWORD=7; '
             '_siamcli_completion siamcli; printf "%s\\n" "${COMPREPLY[@]}"')
    env = dict(os.environ, PATH=os.path.dirname(executable()) + os.pathsep + os.environ.get("PATH", ""))
    run = subprocess.run(["bash", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert set(run.stdout.split()) == {n for n in DISTANCES if n.startswith("co")}
