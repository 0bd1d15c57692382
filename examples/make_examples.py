"""Build the example embeddings from scikit-learn's bundled digits (no download).

Each 8x8 handwritten digit image becomes a 64-dimensional vector of pixel intensities in
[0, 1]; its id says which digit it shows, so a ranking's quality can be read off the ids.

- queries.csv: one held-out image of each digit 0-9, with an id column and a header.
- gallery.npz: the other 1,787 images ('embeddings', float32) with 'ids' like 'digit7_0042'.
- gallery_labels.txt: the digit of each gallery row, one per line.

Run from the repository root: python examples/make_examples.py (needs scikit-learn).
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).parent


def main() -> None:
    digits = load_digits()
    vectors = (digits.data / 16.0).astype(np.float32)
    labels = digits.target
    query_rows = [int(np.flatnonzero(labels == d)[-1]) for d in range(10)]  # the last image of each digit
    gallery_rows = [i for i in range(len(labels)) if i not in set(query_rows)]

    header = "id," + ",".join(f"p{i}" for i in range(vectors.shape[1]))
    lines = [header]
    for d, row in zip(range(10), query_rows):
        lines.append(f"query_digit{d}," + ",".join(f"{v:g}" for v in vectors[row]))
    (HERE / "queries.csv").write_text("\n".join(lines) + "\n")

    ids = np.array([f"digit{labels[i]}_{i:04d}" for i in gallery_rows])
    np.savez_compressed(HERE / "gallery.npz", embeddings=vectors[gallery_rows], ids=ids)
    (HERE / "gallery_labels.txt").write_text("\n".join(str(labels[i]) for i in gallery_rows) + "\n")


if __name__ == "__main__":
    main()
