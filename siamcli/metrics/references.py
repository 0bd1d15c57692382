"""Slow, obviously correct per-pair references (pure Python) that the kernels are tested against."""

from __future__ import annotations

import math

# ---------------------------------------------------------------- slow references (per pair, pure Python)


def _ref_dot(u, v, params):
    return math.fsum(x * y for x, y in zip(u, v))


def _ref_norm(u):
    return math.sqrt(math.fsum(x * x for x in u))


def _ref_cosine(u, v, params):
    nu, nv = _ref_norm(u), _ref_norm(v)
    if nu == 0 or nv == 0:
        return math.nan
    uu, vv = [x / nu for x in u], [y / nv for y in v]
    return 1.0 - math.fsum((x - y) ** 2 for x, y in zip(uu, vv)) / 2.0


def _ref_cosine_distance(u, v, params):
    return 1.0 - _ref_cosine(u, v, params)


def _ref_angular(u, v, params):
    nu, nv = _ref_norm(u), _ref_norm(v)
    if nu == 0 or nv == 0:
        return math.nan
    uu, vv = [x / nu for x in u], [y / nv for y in v]
    diff = _ref_norm([x - y for x, y in zip(uu, vv)])
    total = _ref_norm([x + y for x, y in zip(uu, vv)])
    return 2.0 * math.atan2(diff, total) / math.pi


def _ref_sqeuclidean(u, v, params):
    return math.fsum((x - y) ** 2 for x, y in zip(u, v))


def _ref_euclidean(u, v, params):
    return math.sqrt(_ref_sqeuclidean(u, v, params))


def _ref_mahalanobis(u, v, params):
    diff = [x - y for x, y in zip(u, v)]
    w = params.whitener
    projected = [math.fsum(diff[i] * w[i][j] for i in range(len(diff))) for j in range(w.shape[1])]
    return _ref_norm(projected)


def _ref_manhattan(u, v, params):
    return math.fsum(abs(x - y) for x, y in zip(u, v))


def _ref_chebyshev(u, v, params):
    return max(abs(x - y) for x, y in zip(u, v))


def _ref_minkowski(u, v, params):
    if math.isinf(params.p):
        return _ref_chebyshev(u, v, params)
    return math.fsum(abs(x - y) ** params.p for x, y in zip(u, v)) ** (1.0 / params.p)


def _ref_correlation(u, v, params):
    mu, mv = math.fsum(u) / len(u), math.fsum(v) / len(v)
    return _ref_cosine_distance([x - mu for x in u], [y - mv for y in v], params)


def _ref_canberra(u, v, params):
    return math.fsum(abs(x - y) / (abs(x) + abs(y)) for x, y in zip(u, v) if abs(x) + abs(y) > 0)


def _ref_braycurtis(u, v, params):
    num = math.fsum(abs(x - y) for x, y in zip(u, v))
    den = math.fsum(abs(x + y) for x, y in zip(u, v))
    return 0.0 if num == 0 else (num / den if den else math.inf)  # a = -b: scipy's inf


def _ref_hamming(u, v, params):
    return sum(x != y for x, y in zip(u, v)) / len(u)


def _ref_jaccard(u, v, params):
    su = {i for i, x in enumerate(u) if x != 0}
    sv = {i for i, y in enumerate(v) if y != 0}
    return len(su ^ sv) / len(su | sv) if su | sv else 0.0


def _ref_jensenshannon(u, v, params):
    su, sv = math.fsum(u), math.fsum(v)
    if su == 0 or sv == 0:
        return math.nan
    p, q = [x / su for x in u], [y / sv for y in v]
    m = [(x + y) / 2 for x, y in zip(p, q)]
    kl = lambda a, b: math.fsum(x * math.log(x / y) for x, y in zip(a, b) if x > 0)  # noqa: E731
    return math.sqrt(max((kl(p, m) + kl(q, m)) / 2.0, 0.0))
