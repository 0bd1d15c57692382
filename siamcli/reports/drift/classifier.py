"""The domain classifier: can a linear model tell the current rows from the reference rows?

L2-regularised logistic regression (sum of log losses + ||w||² / (2 C), intercept unpenalised, as
scikit-learn's LogisticRegression), fit with scipy's L-BFGS on features standardised with the
training fold's mean and deviation; stratified k-fold cross-validated ROC AUC (0.5 = the sets are
indistinguishable). The p-value: per fold, the one-sided Mann-Whitney U test that held-out current
rows score higher than held-out reference rows; the folds' p-values are combined by Bonferroni
(smallest times folds, at most 1), which stays valid although the folds share training rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Folds, inverse regularisation strength and how many dimensions are reported.
FOLDS = 5
C = 1.0
TOP_DIMENSIONS = 5
_MAX_ITERATIONS = 500


@dataclass
class ClassifierResult:
    auc: float  # mean over folds of the held-out ROC AUC
    fold_aucs: list[float]
    p_value: float
    top_dimensions: list[dict]  # {"dimension", "coefficient"}: largest |standardised coefficient| first
    folds: int


def stratified_folds(labels: np.ndarray, folds: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) per fold: each class shuffled with `rng` and dealt round-robin to the folds."""
    fold_of = np.empty(len(labels), dtype=np.int64)
    for value in (0, 1):
        rows = np.flatnonzero(labels == value)
        fold_of[rng.permutation(rows)] = np.arange(len(rows)) % folds
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(folds)]


def _loss(params: np.ndarray, x: np.ndarray, sign: np.ndarray, c: float) -> tuple[float, np.ndarray]:
    """Log loss summed over rows + |w|²/(2c), and its gradient; sign is +1 (current) or -1 (reference)."""
    w, b = params[:-1], params[-1]
    margin = sign * (x @ w + b)
    loss = np.logaddexp(0.0, -margin).sum() + 0.5 * (w @ w) / c
    weight = -sign * np.exp(-np.logaddexp(0.0, margin))  # -sign * sigmoid(-margin)
    grad = np.empty_like(params)
    grad[:-1] = x.T @ weight + w / c
    grad[-1] = weight.sum()
    return float(loss), grad


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = C) -> tuple[np.ndarray, float]:
    """(weights, intercept) of the L2-regularised logistic regression of y (0/1) on the rows of x."""
    from scipy.optimize import minimize

    sign = np.where(y == 1, 1.0, -1.0)
    found = minimize(_loss, np.zeros(x.shape[1] + 1), args=(x, sign, c), jac=True, method="L-BFGS-B",
                     options={"maxiter": _MAX_ITERATIONS, "gtol": 1e-6})
    return found.x[:-1], float(found.x[-1])


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of each column; a constant column keeps scale 1 (as scikit-learn's StandardScaler)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def auc_of(scores: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC of scores for y = 1 against y = 0, ties counted half (the Mann-Whitney U / (n1 n0))."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n1 = int((y == 1).sum())
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def classifier_test(pooled: np.ndarray, labels: np.ndarray, rng: np.random.Generator, folds: int = FOLDS,
                    c: float = C) -> ClassifierResult:
    """The cross-validated test; `labels`: 1 for reference rows, 0 for current ones (as the other tests)."""
    from scipy.stats import mannwhitneyu

    y = (np.asarray(labels) == 0).astype(np.int8)  # the classifier predicts "current"
    folds = max(2, min(folds, int(y.sum()), int(len(y) - y.sum())))
    aucs, p_values = [], []
    coefficients = np.zeros(pooled.shape[1])
    for train, test in stratified_folds(y, folds, rng):
        mean, scale = standardiser(pooled[train])
        w, b = fit_logistic((pooled[train] - mean) / scale, y[train], c)
        scores = ((pooled[test] - mean) / scale) @ w + b
        aucs.append(auc_of(scores, y[test]))
        p_values.append(float(mannwhitneyu(scores[y[test] == 1], scores[y[test] == 0], alternative="greater").pvalue))
        coefficients += w / folds
    top = np.lexsort((np.arange(len(coefficients)), -np.abs(coefficients)))[:TOP_DIMENSIONS]
    return ClassifierResult(float(np.mean(aucs)), aucs, min(1.0, min(p_values) * folds),
                            [{"dimension": int(j), "coefficient": float(coefficients[j])} for j in top], folds)
