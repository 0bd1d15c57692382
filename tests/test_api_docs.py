"""The public API's docstrings: NumPy style (Parameters, Returns, Examples) on every public
function, every parameter documented, and every example run as a doctest."""

from __future__ import annotations

import doctest
import inspect
import re
from pathlib import Path

import pytest

import siamcli

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = sorted(name for name in siamcli.__all__
                   if inspect.isfunction(getattr(siamcli, name)))
#: Every public name with docstrings to run: functions, and the classes (their methods' examples too).
DOCUMENTED = sorted(name for name in siamcli.__all__ if name != "__version__")


def sections(doc: str) -> dict[str, str]:
    """A NumPy docstring's sections by heading (a line underlined with dashes of its length)."""
    lines = inspect.cleandoc(doc).splitlines()
    found, current = {}, None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and line.strip() and re.fullmatch(r"-{3,}", lines[i + 1].strip()) \
                and len(lines[i + 1].strip()) == len(line.strip()):
            current = line.strip()
            found[current] = ""
        elif current is not None and not re.fullmatch(r"-{3,}", line.strip()):
            found[current] += line + "\n"
    return found


def test_api_docs_public_functions_are_listed():
    assert {"load", "load_embeddings", "compare", "matrix", "prepare", "evaluate", "inspect_embeddings",
            "get_metric", "available_metrics", "register"} <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_api_docs_every_public_function_has_numpy_sections(name):
    function = getattr(siamcli, name)
    found = sections(function.__doc__ or "")
    for heading in ("Parameters", "Returns", "Examples"):
        assert heading in found, f"siamcli.{name}: no {heading} section"
    assert ">>> " in found["Examples"], f"siamcli.{name}: Examples has no example"
    documented = found["Parameters"]
    for parameter in inspect.signature(function).parameters.values():
        word = parameter.name if parameter.kind != parameter.VAR_KEYWORD else f"**{parameter.name}"
        assert re.search(rf"(^|[\s,(]){re.escape(word)}\b", documented, re.M), \
            f"siamcli.{name}: parameter {word} is not documented"


@pytest.mark.parametrize("name", DOCUMENTED)
def test_api_docs_examples_run(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples that name files name them from the repository's root
    obj = getattr(siamcli, name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    tests = [t for t in finder.find(obj, f"siamcli.{name}", globs={}) if t.examples]
    if name in FUNCTIONS:
        assert tests, f"siamcli.{name} has no example"
    for test in tests:
        runner.run(test, out=lambda text: pytest.fail(text, pytrace=False))
    assert runner.failures == 0
