"""Two spaces of the same items: per-item neighbourhood overlap and global agreement (`siamcli diff`).

- match: rows of the two sets matched by id or by row number
- neighbours: exact k nearest neighbours (the engine), Jaccard overlap, its distribution
- agreement: linear CKA (and debiased), Procrustes residual, Spearman's rho of pair closeness
- report: the SpaceDiff report and `diff_spaces`; words: the findings in words and the table
"""

from .report import GLOBAL_FIELDS, SpaceDiff, diff_spaces

__all__ = ["GLOBAL_FIELDS", "SpaceDiff", "diff_spaces"]
