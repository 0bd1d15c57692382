"""Split the bundled digit embeddings by class, for the README's `siamcli drift` example:
digits_0-4.npy holds the rows of digits 0 to 4, digits_5-9.npy those of 5 to 9 (row order kept).

    python examples/split_digits.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "siamese"


def main() -> None:
    embeddings = np.load(HERE / "test_embeddings.npy")
    labels = np.loadtxt(HERE / "test_labels.txt", dtype=np.int64)
    if len(labels) != len(embeddings):
        raise SystemExit(f"{len(labels)} labels for {len(embeddings)} rows")
    for name, mask in (("digits_0-4.npy", labels <= 4), ("digits_5-9.npy", labels >= 5)):
        np.save(HERE / name, embeddings[mask])
        print(f"wrote {HERE / name}: {int(mask.sum())} rows")


if __name__ == "__main__":
    main()
