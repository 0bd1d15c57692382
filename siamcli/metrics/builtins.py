"""The built-in metrics: one record each, registered through the same path as plugins."""

from __future__ import annotations

import math

import numpy as np

from .covariance import (prepare_mahalanobis)
from .elementwise import (_big_rows, _braycurtis_matrix, _constant_rows, _guard, _jensenshannon_matrix,
                          _minkowski_underflow, _p_braycurtis, _p_canberra, _p_chebyshev, _p_hamming, _p_jaccard,
                          _p_jensenshannon, _p_manhattan, _p_minkowski, _paired64, _scipy_matrix, zero_rows,
                          _zero_sum_rows)
from .numeric import (BRAYCURTIS_INFINITE, _FLOAT64_MAX)
from .products import (SAME_HALF, _angular, _correlation, _cosine, _cosine_distance, _cosine_screen, _dot, _dot_terms,
                       _euclidean, _mahalanobis, _slack, _sqeuclidean, _squared_screen)
from .references import (_ref_angular, _ref_braycurtis, _ref_canberra, _ref_chebyshev, _ref_correlation, _ref_cosine,
                         _ref_cosine_distance, _ref_dot, _ref_euclidean, _ref_hamming, _ref_jaccard,
                         _ref_jensenshannon, _ref_mahalanobis, _ref_manhattan, _ref_minkowski, _ref_sqeuclidean)
from .record import Metric, Param, Screen
from .shift import prepare_shift

#: minkowski's exponent: --p (default 2, as scipy); inf gives chebyshev.
P = Param("p", "Exponent for minkowski (default 2).", default=2.0, allow_inf=True,
          check=lambda p: None if p > 0 else "must be positive")
#: mahalanobis' covariance: of these embeddings instead of the compared ones.
COV_FROM = Param("cov_from", "mahalanobis: estimate the covariance from this file instead of the inputs.",
                 kind="data", what="covariance data")


def _matrix_and_paired(fn):
    return (lambda a, b, params, out=None: fn(a, b, params, out=out)), (lambda a, b, params: fn(a, b, params, paired=True))


def _blas(name, kind, fn, ref, summary, **kw) -> Metric:
    matrix, paired = _matrix_and_paired(fn)
    return Metric(name, kind, matrix, paired, ref, summary, keeps_float32=True, writes_into=True, symmetric=True,
                  **kw)


#: What losses suggest in place of a similarity.
_DISTANCES_INSTEAD = ("cosine_distance", "angular", "euclidean")
_cosine_like = dict(undefined_rows=zero_rows, bounded=True)

BUILTIN_METRICS: list[Metric] = [
    _blas("cosine", "similarity", _cosine, _ref_cosine,
          "cosine similarity a.b / (|a| |b|), in [-1, 1]", aliases=("cos", "cosine_similarity"),
          neutral_score=0.0, screen=_cosine_screen(lambda s: s), distances=_DISTANCES_INSTEAD, **_cosine_like),
    _blas("cosine_distance", "distance", _cosine_distance, _ref_cosine_distance,
          "1 - cosine similarity, in [0, 2] (scipy's 'cosine')", neutral_score=1.0, same_order_as="cosine",
          screen=_cosine_screen(lambda s: 1.0 - s), **_cosine_like),
    _blas("angular", "distance", _angular, _ref_angular,
          "angle between the vectors divided by pi, in [0, 1]", aliases=("angle",),
          neutral_score=0.5, same_order_as="cosine", screen=_cosine_screen(lambda s: np.cos(np.pi * s)),
          **_cosine_like),
    _blas("dot", "similarity", _dot, _ref_dot, "inner product a.b", aliases=("inner", "inner_product"),
          screen=Screen(lambda a: a, lambda b: b, lambda s: s, True, _slack(_dot_terms), half=SAME_HALF),
          distances=_DISTANCES_INSTEAD),
    _blas("euclidean", "distance", _euclidean, _ref_euclidean, "straight-line distance |a - b|",
          aliases=("l2",), screen=_squared_screen(np.square), prepare=prepare_shift),
    _blas("sqeuclidean", "distance", _sqeuclidean, _ref_sqeuclidean, "squared euclidean distance |a - b|^2",
          aliases=("squared_euclidean",), same_order_as="euclidean", screen=_squared_screen(lambda s: s),
          prepare=prepare_shift),
    Metric("manhattan", "distance", _scipy_matrix("cityblock", compiled="manhattan", guard=_guard(_p_manhattan, "manhattan distance")),
           _paired64(_p_manhattan, "manhattan distance"), _ref_manhattan,
           "sum of absolute differences", aliases=("cityblock", "l1", "taxicab"), writes_into=True, symmetric=True),
    Metric("chebyshev", "distance", _scipy_matrix("chebyshev", compiled="chebyshev", guard=_guard(_p_chebyshev, "chebyshev distance")),
           _paired64(_p_chebyshev, "chebyshev distance"), _ref_chebyshev,
           "largest absolute difference", aliases=("linf", "chessboard"),
           # a max needs no float64 sums: the compiled kernel runs twice as wide
           keeps_float32=True, writes_into=True, symmetric=True),
    Metric("minkowski", "distance", _scipy_matrix("minkowski", uses=("p",), guard=_guard(_p_minkowski, "minkowski distance", _minkowski_underflow)),
           _paired64(_p_minkowski, "minkowski distance"), _ref_minkowski,
           "(sum |a_i - b_i|^p)^(1/p); --p sets p (default 2, as scipy)", aliases=("lp",), params=(P,), default_order_as="euclidean",
           writes_into=True, symmetric=True),
    Metric("mahalanobis", "distance", _matrix_and_paired(_mahalanobis)[0], _matrix_and_paired(_mahalanobis)[1],
           _ref_mahalanobis, "sqrt((a-b)' S^-1 (a-b)), S the covariance of the data or of --cov-from",
           prepare=prepare_mahalanobis, params=(COV_FROM,), writes_into=True, symmetric=True),
    Metric("correlation", "distance", _matrix_and_paired(_correlation)[0], _matrix_and_paired(_correlation)[1],
           _ref_correlation, "1 - Pearson correlation of the two vectors' components, in [0, 2]",
           aliases=("pearson",), undefined_rows=_constant_rows, undefined_words=("a constant vector", "constant vectors"),
           neutral_score=1.0, keeps_float32=True,
           writes_into=True, bounded=True, symmetric=True),
    Metric("canberra", "distance", _scipy_matrix("canberra", guard=_guard(_p_canberra, "canberra distance", _big_rows(_FLOAT64_MAX / 2, summed=False))),
           _paired64(_p_canberra, "canberra distance"), _ref_canberra,
           "sum |a_i - b_i| / (|a_i| + |b_i|), terms with 0/0 count 0", writes_into=True, symmetric=True),
    Metric("braycurtis", "distance", _braycurtis_matrix, _paired64(_p_braycurtis, BRAYCURTIS_INFINITE),
           _ref_braycurtis, "sum |a_i - b_i| / sum |a_i + b_i|; 0 for two zero vectors; an error for a = -b",
           aliases=("bray_curtis",), writes_into=True, symmetric=True),
    Metric("hamming", "distance", _scipy_matrix("hamming"), _paired64(_p_hamming), _ref_hamming,
           "fraction of components that differ", domain="discrete", compares_bits=True,
           writes_into=True, symmetric=True),
    Metric("jaccard", "distance", _scipy_matrix("jaccard"), _paired64(_p_jaccard), _ref_jaccard,
           "1 - |A & B| / |A | B| of the sets of nonzero positions (scipy's jaccard)", domain="discrete", writes_into=True, symmetric=True),
    Metric("jensenshannon", "distance", _jensenshannon_matrix, _paired64(_p_jensenshannon),
           _ref_jensenshannon, "Jensen-Shannon distance of the vectors scaled to sum 1 (natural log); inputs >= 0",
           aliases=("js", "jensen_shannon"), undefined_rows=_zero_sum_rows,
           # inputs are non-negative, so a row summing to 0 is a zero vector
           undefined_words=("a vector summing to 0", "zero vectors"), neutral_score=math.sqrt(math.log(2)),
           domain="nonnegative", writes_into=True, symmetric=True),
]
