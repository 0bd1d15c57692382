"""A health report of one embedding set: size, norms, used dimensions, anisotropy, duplicates,
collapse, and (given class labels) how well the classes separate.

Whatever needs every row (norms, per-dimension variance, exact duplicates) is read in row
chunks, so a memory-mapped array of millions of rows is fine; pairwise figures use a random
sample of rows, so nothing is ever n x n. Rows holding NaN or inf are counted and left out of
every other figure. Definitions and thresholds are the constants of `findings` (what the figures
mean), `scan` (how rows are read and sampled) and `report` (sample sizes).

- scan: the chunked pass over every row, exact duplicates, the covariance spectrum, sampled cosines
- separation: same-class against different-class scores of the sampled rows
- findings: thresholds, the collapse verdict, warnings and summary in words, the table
- report: InspectionReport and `inspect_embeddings`

>>> import numpy as np
>>> from siamcli.io import EmbeddingSet
>>> x = np.random.default_rng(0).standard_normal((500, 16))
>>> report = inspect_embeddings(EmbeddingSet(x, None, "x"))
>>> report.summary[0], report.collapsed
('500 vectors of 16 dimensions (float64)', False)
"""

from .findings import (COLLAPSE_COSINE, COLLAPSE_PAIR_FRACTION, COLLAPSE_SPREAD, LOW_RANK_FRACTION, LOW_VARIANCE_RATIO,
                       NEAR_DUPLICATE_COSINE, NORM_SPREAD_WARNING, NORMALIZED_TOLERANCE, QUANTILES)
from .report import MAX_SAMPLE, NORMS_KEPT, PROJECTION_ROWS, SPECTRUM_ROWS, InspectionReport, inspect_embeddings
from .scan import MAX_SPECTRUM_SIDE, SAMPLE_VALUES
from .separation import ClassRow, ClassSeparation

__all__ = ["inspect_embeddings", "InspectionReport", "ClassSeparation", "ClassRow"]
