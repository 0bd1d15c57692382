"""Reading inputs: one table of formats (formats.py), readers per container family (arrays.py,
delimited.py, jsonfile.py), bounded reading (bounded.py), strict text cells (textcells.py), and
ids, labels and pairs read through the same table (labels.py); each input becomes an EmbeddingSet.

Positions in error messages: text formats give 1-based line and column numbers as an editor
shows them; arrays (.npy, .npz) give 0-based row and column indices as numpy does."""

from .arrays import MMAP_THRESHOLD_BYTES, label_array
from .bounded import DEFAULT_MAX_INPUT_BYTES, STDIN
from .delimited import ID_COLUMN_NAMES, LABEL_COLUMN_NAMES
from .embeddings import (DTYPES, EmbeddingSet, Parsed, ReadOptions, as_embedding_set, check_finite, embeddings_from_array,
                         stack_embeddings)
from .formats import FORMATS, Format, register_format
from .jsonfile import JSON_ID_FIELDS, JSON_VECTOR_FIELDS
from .labels import read_ids, read_labelled_pairs, read_labels, read_pairs
from .loading import load_embeddings

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES", "FORMATS", "ID_COLUMN_NAMES", "JSON_ID_FIELDS", "JSON_VECTOR_FIELDS",
    "LABEL_COLUMN_NAMES", "MMAP_THRESHOLD_BYTES", "STDIN", "DTYPES", "EmbeddingSet", "Format", "Parsed", "ReadOptions",
    "as_embedding_set", "check_finite", "embeddings_from_array", "label_array", "load_embeddings",
    "read_ids", "read_labelled_pairs", "read_labels", "read_pairs", "register_format", "stack_embeddings",
]
