"""The layout rules of ARCHITECTURE.md, checked on the source: small modules, short functions, a library
that never imports click, and a public API that does not change under renovation."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import siamcli

PACKAGE = Path(siamcli.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _is_cli(path: Path) -> bool:
    return path.relative_to(PACKAGE).parts[0] in ("cli", "cli.py", "__main__.py")


@pytest.mark.parametrize("path", SOURCES, ids=_relative)
def test_layout_source_files_fit_in_a_readers_head(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_FILE_LINES, f"{_relative(path)} has {lines} lines (at most {MAX_FILE_LINES})"


def test_layout_functions_are_short():
    long = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # from `def`: a command's option decorators are declarations
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{_relative(path)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "functions over %d lines: %s" % (MAX_FUNCTION_LINES, "; ".join(long))


def test_layout_the_library_never_imports_click():
    offenders = []
    for path in SOURCES:
        if _is_cli(path):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(n == "click" or n.startswith("click.") or n == "rich_click" for n in names):
                offenders.append(_relative(path))
    assert not offenders, f"library modules importing click: {offenders}"


def test_layout_the_library_names_parameters_not_flags():
    """Error messages in the library mention parameters (errors.mention); only the CLI writes flags."""
    import re

    flag = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
    found = []
    for path in SOURCES:
        if _is_cli(path):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for part in ast.walk(node.exc):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str) and flag.search(part.value):
                        found.append(f"{_relative(path)}:{part.lineno}: {flag.search(part.value).group(0)}")
    assert not found, "flags in library error messages: " + "; ".join(found)


#: The public API as it stood before the renovation (issue 14): names and their parameters.
PUBLIC_API = {
    "load": ["path", "input_format", "key", "ids_path", "stdin", "labels", "max_input_size"],
    "load_embeddings": ["path", "input_format", "key", "ids_path", "stdin", "labels", "max_input_size"],
    "get_metric": ["name", "warn"],
    "compare": ["a", "b", "metric", "top_k", "limit", "threshold", "paired", "pairs", "p", "cov_from", "normalize",
                "zero_vector", "memory", "notify", "block_rows"],
    "matrix": ["a", "b", "metric", "p", "cov_from", "normalize", "zero_vector", "memory", "notify", "out",
               "block_rows"],
    "prepare": ["a", "b", "metric", "p", "cov_from", "normalize", "zero_vector", "memory", "notify"],
    "available_metrics": ["warn"], "register": ["metric"],
    "evaluate": ["emb", "right", "labels", "pairs", "classes", "sample", "seed", "positive_label", "metric",
                 "normalize", "folds", "fars", "ks", "p", "cov_from", "zero_vector", "memory", "notify"],
    "inspect_embeddings": ["emb", "classes", "sample", "seed", "metric", "spectrum_rows"],
    "detect_drift": ["reference", "current", "test", "alpha", "permutations", "sample", "bandwidth", "neighbors",
                     "metric", "seed"],
}
PUBLIC_NAMES = {"load", "load_embeddings", "get_metric", "compare", "matrix", "prepare", "available_metrics",
                "register", "evaluate", "inspect_embeddings", "detect_drift", "EmbeddingSet", "Metric", "Params", "Ranking",
                "Score", "MatrixResult", "MetricList", "SiamError", "InputError", "ShapeError",
                "UnknownMetricError", "UsageError", "__version__"}


def test_layout_public_api_is_unchanged():
    assert set(siamcli.__all__) == PUBLIC_NAMES
    for name in siamcli.__all__:
        assert getattr(siamcli, name) is not None
    for name, leading in PUBLIC_API.items():
        params = list(inspect.signature(getattr(siamcli, name)).parameters)
        assert params[: len(leading)] == leading, f"siamcli.{name}{params}"
