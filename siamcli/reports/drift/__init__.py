"""Has a set of embeddings drifted from a reference set? (`siamcli drift`)

- permutation: seeded label permutations and the permutation p-value
- mmd: unbiased MMD² with the RBF kernel, blockwise, and its permutation test
- knn: the nearest-neighbour two-sample test (Schilling / Henze) over the engine's exact neighbours
- classifier: a domain classifier's cross-validated ROC AUC (logistic regression, scipy's L-BFGS)
- shifts: centroid, norms, per-dimension KS with Benjamini-Hochberg, `inspect`'s health figures
- report: DriftReport and `detect_drift`; words: the verdict and findings in words, the table
- plot: the figure of `drift --plot` (the shared PCA projection, the permutation null)
"""

from .report import TESTS, DriftReport, detect_drift

__all__ = ["TESTS", "DriftReport", "detect_drift"]
