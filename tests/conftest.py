"""Test-suite rules that hold for every test module."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    """Runs of the installed `siamcli` executable (the `entry` parameter "executable") start a new
    Python process each, so they belong to the slow suite; their CliRunner twins stay in the fast loop."""
    slow = pytest.mark.slow
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("entry") == "executable":
            item.add_marker(slow)
