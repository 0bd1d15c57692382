"""Blockwise computation: score matrices, per-row top-k, overall best pairs and paired scores.

Work proceeds in row blocks of A against column blocks of B, so memory follows the block size,
not N x M. `comparison` binds a metric to its inputs (prepare); `ranking` holds top-k (and
`selfscreen` a set's top-k against itself, each unordered pair computed once), `overall` the best
pairs overall, `pairs` paired and listed pairs, `blocks` whole matrices (a self-comparison's
mirrored), `api` the entry points. Progress goes to the callback a Comparison is given (pairs scored per block).
"""

from ..metrics import get_metric
from ..results import Ranking
from .api import compare, is_single_pair, matrix, rankings, results, single_score, verdict_pairs, verify
from .blocks import fill_matrix, iter_matrix_rows, matrix_row_blocks, upper_triangle
from .comparison import (
    DEFAULT_MEMORY_BYTES,
    EXACT_ROWS_PER_CHUNK,
    MAX_MEMORY_BYTES,
    ZERO_VECTOR_POLICIES,
    Comparison,
    as_embedding_set,
    check_counts,
    check_memory,
    check_threshold,
    compute_dtype,
    parse_size,
    prepare,
    scan_rows,
    set_threads,
    whole_tiles,
)
from .pairs import iter_paired, pair_scores, paired_best, scored_pairs
from .overall import best_pairs
from .ranking import best_per_row_index, can_screen, iter_topk

__all__ = [
    "DEFAULT_MEMORY_BYTES", "EXACT_ROWS_PER_CHUNK", "MAX_MEMORY_BYTES", "ZERO_VECTOR_POLICIES", "Comparison",
    "Ranking", "as_embedding_set", "best_pairs", "best_per_row_index", "can_screen", "check_counts",
    "check_memory", "check_threshold", "compare", "compute_dtype", "fill_matrix", "get_metric",
    "is_single_pair", "iter_matrix_rows", "iter_paired", "iter_topk", "matrix", "matrix_row_blocks",
    "pair_scores", "paired_best", "parse_size", "prepare", "rankings", "results", "scan_rows", "scored_pairs",
    "set_threads", "single_score", "upper_triangle", "verdict_pairs", "verify", "whole_tiles",
]
