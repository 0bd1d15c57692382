"""siamcli: compare embeddings from the shell or from Python.

>>> import siamcli
>>> ranking = siamcli.compare("examples/queries.csv", "examples/gallery.npz", top_k=3)
"""

from .engine import compare, matrix, prepare
from .errors import InputError, ShapeError, SiamError, UnknownMetricError, UsageError
from .io import EmbeddingSet, load_embeddings
from .metrics import Metric, Params, available_metrics, get_metric, register
from .results import MatrixResult, MetricList, Ranking, Score

__version__ = "0.1.0"

load = load_embeddings

#: Loaded on first use, so that `siamcli compare` does not pay for the diagnostics at start-up.
_LAZY = {"evaluate": ("reports.evaluation", "evaluate"), "inspect_embeddings": ("reports.inspection", "inspect_embeddings"),
         "detect_drift": ("reports.drift", "detect_drift")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module 'siamcli' has no attribute '{name}'")


__all__ = [
    "load", "load_embeddings", "get_metric", "compare", "matrix", "prepare", "available_metrics", "register",
    "evaluate", "inspect_embeddings", "detect_drift",
    "EmbeddingSet", "Metric", "Params", "Ranking", "Score", "MatrixResult", "MetricList",
    "SiamError", "InputError", "ShapeError", "UnknownMetricError", "UsageError", "__version__",
]
