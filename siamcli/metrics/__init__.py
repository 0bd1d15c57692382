"""Metrics: one `Metric` record per metric holds everything metric-specific (kernels, parameters,
what it fits from the data, undefined rows and their words, ranking direction); the registry
(`METRICS`, `register`, `get_metric`) is the one place that knows metrics by name.

A metric supplies a matrix kernel `(n,d),(m,d) -> (n,m)`, a paired kernel `(n,d),(n,d) -> (n,)`,
and a slow, obviously correct per-pair `reference` that the tests hold the kernels to.
Third-party packages add metrics through the entry-point group ``siamcli.metrics``; each entry
point names a `Metric` (or a list of them).

Modules: record (Metric, Param, Params, Screen, ranking_keys), registry, builtins, products
(matrix-product metrics), shift (euclidean's common shift), elementwise (cdist-based metrics),
covariance (mahalanobis' fit), references (slow per-pair oracles), numeric (shared helpers), kernels
(threads, tiles, compiled loops).
"""

from .builtins import BUILTIN_METRICS
from .elementwise import zero_rows
from .numeric import (BRAYCURTIS_INFINITE, EXACT_CHUNK_VALUES, NEAR_TOLERANCE, SAFE_SQNORMS, WIDE_SQNORM,
                      ScoreOutOfRange, unit_rows)
from .record import Metric, Param, Params, Screen, ranking_keys
from .registry import (ENTRY_POINT_GROUP, METRICS, available_metrics, get_metric, metric_params, register,
                       unregister)

__all__ = ["Metric", "Param", "Params", "Screen", "ranking_keys", "register", "unregister", "get_metric", "available_metrics",
           "metric_params", "METRICS", "BUILTIN_METRICS", "ENTRY_POINT_GROUP", "ScoreOutOfRange",
           "BRAYCURTIS_INFINITE", "NEAR_TOLERANCE", "EXACT_CHUNK_VALUES", "SAFE_SQNORMS", "WIDE_SQNORM", "unit_rows",
           "zero_rows"]
