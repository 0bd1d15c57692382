"""The Metric record: everything about one metric, as data: its kernels, its parameters (Param)
and how they are checked, what it fits from the data, the rows where it is undefined and the words
for them, and its ranking direction (`ranking_keys`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..errors import UsageError, mention


@dataclass(frozen=True)
class Param:
    """A parameter of a metric, as data: the CLI makes an option of it (`--name`), `Metric.bind`
    checks the user's value against it.

    kind: "number" (a float; `allow_inf` accepts inf) or "data" (embeddings: a file, an array or
    an EmbeddingSet of the inputs' dimension, loaded before `prepare`, which reads its rows with
    rows(value)); `what` names an array given for it in messages. check(value): None when the value
    is fine, else what is wrong ("must be positive"); the error names the parameter and the metric.
    """

    name: str
    help: str
    default: Any = None
    kind: str = "number"
    allow_inf: bool = False
    what: str = "data"
    check: Callable[[Any], str | None] | None = None

    def __post_init__(self):
        if self.kind not in ("number", "data"):
            raise ValueError(f"parameter {self.name}: kind must be 'number' or 'data'")


class Params:
    """A metric's parameters bound for one comparison: the user's values (defaults filled in) and
    what `prepare` fitted from the data (mahalanobis: `whitener`, `center`), read as attributes
    (`params.p`); `notes`: what preparation decided, for the user (printed on stderr)."""

    def __init__(self, notes: tuple[str, ...] = (), **values):
        self.values = dict(values)
        self.notes = tuple(notes)

    def __getattr__(self, name: str):
        values = self.__dict__.get("values")
        if values is None or name not in values:
            raise AttributeError(f"no metric parameter '{name}'")
        return values[name]

    def get(self, name: str, default=None):
        return self.values.get(name, default)

    def with_values(self, notes: tuple[str, ...] = (), **values) -> "Params":
        """A copy with `values` added (fitted ones) and `notes` appended."""
        return Params(self.notes + tuple(notes), **{**self.values, **values})

    def without(self, *names: str) -> "Params":
        """A copy without `names` (data a fit has used up, not to be shipped with the result)."""
        return Params(self.notes, **{k: v for k, v in self.values.items() if k not in names})

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={'<array>' if isinstance(v, np.ndarray) else repr(v)}" for k, v in self.values.items())
        return f"Params({shown})"


def ranking_keys(scores, higher_is_better: bool) -> np.ndarray:
    """Sort keys for scores, smaller is closer: similarities are negated, NaN scores become +inf
    (ranked last). Sort them stably (or with the index as the next key) so ties go by index."""
    keys = np.negative(scores) if higher_is_better else np.array(scores, copy=True)
    keys[np.isnan(keys)] = np.inf
    return keys


@dataclass(frozen=True)
class Half:
    """How a Screen's product is taken in bfloat16 (see engine.bfloat16): left(operand) and
    right(operand) lay its float32 operands out for rounding (the same, or with exact values split
    into two parts); the last `tail` columns of the layout are left out of the rounding's measured
    bound, and tail_error(left, right), per row of the float32 left, bounds what rounding them
    changes a product value by."""

    left: Callable[[np.ndarray], np.ndarray]
    right: Callable[[np.ndarray], np.ndarray]
    tail: int = 0
    tail_error: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True, eq=False)
class Screen:
    """A matrix product that orders pairs as a metric does, for rankings: most pairs are dismissed
    by comparing their product value with a bound, and the few candidates left are scored
    exactly by the metric's paired kernel. `slack` bounds the rounding error of the product, so
    no pair that could rank is dismissed.

    left(a_rows), right(b_rows): the product's operands (values = left @ right.T);
    value(scores): the product value a score corresponds to (monotone); higher: larger values
    are closer; slack(left, right): per row of left, an absolute error bound of its values;
    fitted(params): the screen for a comparison's fitted parameters (euclidean's shift), if any;
    half: how to multiply in bfloat16 instead (see Half), if the screen allows it.
    """

    left: Callable[[np.ndarray], np.ndarray]
    right: Callable[[np.ndarray], np.ndarray]
    value: Callable[[np.ndarray], np.ndarray]
    higher: bool
    slack: Callable[[np.ndarray, np.ndarray], np.ndarray]
    fitted: Callable[[Params], "Screen"] | None = None
    half: "Half | None" = None

    def for_params(self, params: Params) -> "Screen":
        """The screen to use with a comparison's (fitted) parameters."""
        return self if self.fitted is None else self.fitted(params)


@dataclass(frozen=True, eq=False)
class Metric:
    """One metric. `kind` fixes the ranking direction: similarities rank high first."""

    name: str
    kind: str  # "distance" or "similarity"
    matrix: Callable[[np.ndarray, np.ndarray, Params], np.ndarray]
    paired: Callable[[np.ndarray, np.ndarray, Params], np.ndarray]
    reference: Callable[[Sequence[float], Sequence[float], Params], float]
    summary: str
    aliases: tuple[str, ...] = ()
    #: Rows for which the metric is undefined (zero vectors for cosine); None: defined everywhere.
    undefined_rows: Callable[[np.ndarray], np.ndarray] | None = None
    #: The score a pair with an undefined row gets under `--zero-vector zero`.
    neutral_score: float | None = None
    #: "real"; "nonnegative" when inputs must be >= 0 (probability-like vectors); "discrete" when
    #: the metric is meant for binary or categorical vectors (it accepts any, but means little on floats).
    domain: str = "real"
    #: Scores codes of bits (0/1 vectors: the sign bits of `evaluate --quantize binary`, which is
    #: scored by the metrics that set this: hamming, popcount(a xor b) / d).
    compares_bits: bool = False
    #: Another metric that orders every set of pairs exactly as this one does (a monotone function
    #: of it: 1 - cosine, |a-b|^2), so `evaluate --metric all` reports that one only.
    same_order_as: str | None = None
    #: Another metric that orders pairs as this one does when every parameter is at its default
    #: (minkowski with p = 2: euclidean), so `evaluate --metric all` reports it only when one is set.
    default_order_as: str | None = None
    #: A matrix-product screen for rankings (see Screen); None: rankings screen computed scores.
    screen: Screen | None = None
    #: Fits what the metric needs from the data (mahalanobis: the covariance): prepare(rows, dim,
    #: params) -> Params, given the bound params; rows() yields float64 row chunks of the compared
    #: inputs, rows(source) those of a "data" parameter's (loaded) value; rows(sample=n) at most n
    #: evenly spaced rows of each input (euclidean's shift: cheap even where no product needs it).
    prepare: Callable[[Callable[..., Iterable[np.ndarray]], int, Params], Params] | None = None
    #: The parameters a user may set (minkowski's p); values for any other are refused.
    params: tuple[Param, ...] = ()
    #: Distances to use in place of this similarity where a distance is needed (losses), best first.
    distances: tuple[str, ...] = ()
    #: How messages name an undefined row: (one, several), e.g. ("a constant vector", "constant vectors").
    undefined_words: tuple[str, str] = ("a zero vector", "zero vectors")
    #: Computes in float32 for float32 inputs (BLAS kernels); others compute in float64.
    keeps_float32: bool = False
    #: `matrix(a, b, params, out=block)` writes into a given array (saves a copy of every block).
    writes_into: bool = False
    #: Scores lie in a fixed range whatever the vectors' magnitudes (cosine: [-1, 1]). Otherwise they
    #: grow with them, and float32 inputs large enough to overflow float32 scores compute in float64.
    bounded: bool = False
    #: score(a, b) = score(b, a): a set compared with itself computes each unordered pair once
    #: (tiles on and above the diagonal) and mirrors it. False (the default, so that a plugin's
    #: asymmetric metric such as a KL divergence is never mirrored into wrong scores): every ordered
    #: pair is computed.
    symmetric: bool = False

    def __post_init__(self):
        if self.kind not in ("distance", "similarity"):
            raise ValueError(f"metric {self.name}: kind must be 'distance' or 'similarity'")

    @property
    def higher_is_better(self) -> bool:
        return self.kind == "similarity"

    def __repr__(self) -> str:
        """Its name, kind and parameters; never its kernels."""
        params = f", params={[p.name for p in self.params]}" if self.params else ""
        return f"Metric({self.name!r}, {self.kind}, aliases={list(self.aliases)}{params})"

    def ranking_keys(self, scores) -> np.ndarray:
        """Sort keys of scores under this metric (see `ranking_keys`)."""
        return ranking_keys(scores, self.higher_is_better)

    def own_params(self, values: dict[str, Any]) -> dict[str, Any]:
        """The entries of `values` that are parameters of this metric (a list of metrics shares one set)."""
        names = {param.name for param in self.params}
        return {k: v for k, v in values.items() if k in names}

    def bind(self, values: dict[str, Any] | None = None, **more) -> Params:
        """The Params to compute with: each parameter's value (None or absent: its default),
        checked. A value for a parameter this metric does not have is a UsageError."""
        given = {k: v for k, v in {**(values or {}), **more}.items() if v is not None}
        own = {param.name: param for param in self.params}
        for name in given:
            if name not in own:
                owners = _owners(name)
                if not owners:
                    raise UsageError(f"{mention(name)} is not a parameter of {self.name} (nor of any metric)")
                raise UsageError(f"{mention(name)} applies to {owners} only, not to {self.name}")
        bound = {}
        for name, param in own.items():
            value = given.get(name, param.default)
            problem = None if value is None or param.check is None else param.check(value)
            if problem:
                raise UsageError(f"{mention(name)} {problem} for {self.name}, got {value}")
            bound[name] = value
        return Params(**bound)


def _owners(param: str) -> str:
    """The registered metrics that have a parameter called `param`, for an error message."""
    from .registry import available_metrics

    names = [m.name for m in available_metrics() if any(p.name == param for p in m.params)]
    return " and ".join(names)
