"""Writes the PyTorch fixtures of tests/test_io_tensors.py with torch.save, so that the error paths
and the bfloat16 widening are tested from files torch made, whether or not torch is installed
(torch is not in the test extra: its wheels take several GB).

    python tests/data/torch/make_fixtures.py   # needs torch; rewrites the .pt files beside it

The values are simple formulas that the tests write out again on their own (FIXTURE_VALUES there).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass
class Point:
    """An object that is not a tensor: torch's weights-only loader must refuse to rebuild it."""

    x: float
    y: float


class RunsCode:
    """Unpickling this runs a shell command that leaves a file behind (what a loader must never do)."""

    def __reduce__(self):
        return os.system, ("touch siamcli_ran_unpickled_code",)


def main() -> None:
    rows = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5  # exact in float32 and bfloat16
    torch.save(rows, HERE / "tensor.pt")
    torch.save(rows.to(torch.bfloat16), HERE / "bfloat16.pt")
    torch.save({"embeddings": rows.double(), "bias": torch.ones(4), "ids": ["a", "b", "c"]}, HERE / "dict.pt")
    torch.save({"query": rows, "gallery": rows * 2}, HERE / "two_matrices.pt")
    torch.save({"embeddings": rows, "meta": Point(1.0, 2.0)}, HERE / "pickled_object.pt")
    torch.save({"embeddings": rows, "hook": RunsCode()}, HERE / "runs_code.pt")
    torch.save(rows, HERE / "legacy.pt", _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
