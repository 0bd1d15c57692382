"""The registry: METRICS by name, register() for built-ins and plugins, lookup by name or alias."""

from __future__ import annotations

from typing import Callable

from ..errors import UnknownMetricError, did_you_mean
from .builtins import BUILTIN_METRICS
from .record import Metric, Param

ENTRY_POINT_GROUP = "siamcli.metrics"


#: Every registered metric by name: built-ins first, then plugins (in order of registration).
METRICS: dict[str, Metric] = {}
#: Lower-case names and aliases -> name.
_lookup: dict[str, str] = {}
_plugins_loaded = False
#: Plugins that failed to load, said once to the first caller that listens (the CLI loads plugins
#: when it builds its options, before it has anywhere to say this).
_unsaid_problems: list[str] = []


def register(metric: Metric) -> Metric:
    """Add a metric: `compare`, `--metric`, ``siamcli metrics`` and the contract tests take it up.
    Built-ins go through here too (plugins through the ``siamcli.metrics`` entry points).

    Parameters
    ----------
    metric : Metric
        Its name and aliases must be new (any case).

    Returns
    -------
    Metric
        The metric registered.

    Examples
    --------
    >>> import numpy as np, siamcli
    >>> from siamcli.metrics import Metric, unregister
    >>> half_l1 = Metric("half_l1", "distance",
    ...                  matrix=lambda a, b, params: np.abs(a[:, None] - b[None]).sum(-1) / 2,
    ...                  paired=lambda a, b, params: np.abs(a - b).sum(-1) / 2,
    ...                  reference=lambda u, v, params: sum(abs(x - y) for x, y in zip(u, v)) / 2,
    ...                  summary="half the manhattan distance")
    >>> siamcli.register(half_l1)
    Metric('half_l1', distance, aliases=[])
    >>> float(siamcli.compare([1.0, 2.0], [3.0, 5.0], metric="half_l1"))
    2.5
    >>> _ = unregister("half_l1")  # as the registry was before the example
    """
    if not isinstance(metric, Metric):
        raise TypeError(f"expected a siamcli.metrics.Metric, got {type(metric).__name__}")
    names = (metric.name, *metric.aliases)
    taken = [n for n in names if n.lower() in _lookup]
    if taken:
        raise ValueError(f"metric name already registered: {', '.join(taken)}")
    METRICS[metric.name] = metric
    for n in names:
        _lookup[n.lower()] = metric.name
    return metric


for _metric in BUILTIN_METRICS:
    register(_metric)


def _load_plugins(warn: Callable[[str], None] | None = None) -> None:
    """Register the metrics that installed packages declare under ENTRY_POINT_GROUP (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        if warn is not None:
            while _unsaid_problems:
                warn(_unsaid_problems.pop(0))
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, Metric):
                obj = obj()
            for metric in [obj] if isinstance(obj, Metric) else list(obj):
                register(metric)
        except Exception as exc:  # a broken plugin must not break the tool
            problem = f"warning: metric plugin '{ep.name}' ({ep.value}) was not loaded: {exc}"
            if warn is not None:
                warn(problem)
            else:
                _unsaid_problems.append(problem)


def available_metrics(warn: Callable[[str], None] | None = None) -> list[Metric]:
    """Every metric: built-ins first, then plugins (loaded on the first call).

    Parameters
    ----------
    warn : callable, optional
        Called with a line for each plugin that fails to load (default: kept for a later caller).

    Returns
    -------
    list of Metric

    Examples
    --------
    >>> import siamcli
    >>> [m.name for m in siamcli.available_metrics()][:3]
    ['cosine', 'cosine_distance', 'angular']
    """
    _load_plugins(warn)
    return list(METRICS.values())


def get_metric(name: str | Metric, warn: Callable[[str], None] | None = None) -> Metric:
    """The metric called `name` or one of its aliases, any case.

    Parameters
    ----------
    name : str or Metric
        A name or alias (a Metric is returned as it is).
    warn : callable, optional
        As `available_metrics` takes it (plugins are loaded when a name is not a built-in's).

    Returns
    -------
    Metric
        Its kernels, ``kind`` ("distance" or "similarity"), ``params`` and ``summary``.

    Raises
    ------
    UnknownMetricError
        For a name no metric has, naming the closest and every known one.

    Examples
    --------
    >>> import siamcli
    >>> siamcli.get_metric("L1")
    Metric('manhattan', distance, aliases=['cityblock', 'l1', 'taxicab'])
    """
    if isinstance(name, Metric):
        return name
    key = name.strip().lower()
    if key not in _lookup:
        _load_plugins(warn)
    if key not in _lookup:
        hint = did_you_mean(key, _lookup)
        raise UnknownMetricError(f"unknown metric '{name}'{hint} (known: {', '.join(METRICS)})")
    return METRICS[_lookup[key]]


def unregister(name: str) -> Metric:
    """Remove the metric called `name` (or an alias), for tests and examples that register their own."""
    metric = get_metric(name)
    del METRICS[metric.name]
    for n in (metric.name, *metric.aliases):
        _lookup.pop(n.lower(), None)
    return metric


def metric_params(warn: Callable[[str], None] | None = None, plugins: bool = True) -> dict[str, tuple[Param, list[str]]]:
    """Every parameter of a registered metric: name -> (the first metric's Param, the names of the
    metrics that have one by that name). The CLI makes its options of these. `plugins`: load the
    entry-point plugins first (False: the metrics registered so far, which costs no start-up time)."""
    found: dict[str, tuple[Param, list[str]]] = {}
    for metric in available_metrics(warn) if plugins else list(METRICS.values()):
        for param in metric.params:
            found.setdefault(param.name, (param, []))[1].append(metric.name)
    return found
