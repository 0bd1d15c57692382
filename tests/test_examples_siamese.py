"""The committed output of examples/train_siamese.py: consistent files, and embeddings that beat
raw pixels on held-out digits. Needs numpy and scikit-learn only, not PyTorch."""

from pathlib import Path

import numpy as np
import pytest

SIAMESE = Path(__file__).resolve().parent.parent / "examples" / "siamese"


@pytest.fixture(scope="module")
def committed():
    pairs_text = (SIAMESE / "test_pairs.csv").read_text().splitlines()
    return {
        "embeddings": np.load(SIAMESE / "test_embeddings.npy"),
        "pixels": np.load(SIAMESE / "test_pixels.npy"),
        "labels": np.array([int(line) for line in (SIAMESE / "test_labels.txt").read_text().split()]),
        "pairs_header": pairs_text[0],
        "pairs": np.array([[int(cell) for cell in line.split(",")] for line in pairs_text[1:]]),
    }


def euclidean_auc(vectors: np.ndarray, pairs: np.ndarray) -> float:
    """ROC AUC of same-vs-different pairs scored by negated euclidean distance (closer = same)."""
    from sklearn.metrics import roc_auc_score

    left, right, same = pairs.T
    distances = np.sqrt(((vectors[left].astype(np.float64) - vectors[right]) ** 2).sum(axis=1))
    return roc_auc_score(same, -distances)


def recall_at_1(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose nearest other row (euclidean, leave-one-out) has the same label."""
    x = vectors.astype(np.float64)
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(squared, np.inf)
    return float((labels[squared.argmin(axis=1)] == labels).mean())


def test_siamese_files_have_one_row_per_test_image(committed):
    embeddings, pixels, labels = committed["embeddings"], committed["pixels"], committed["labels"]
    assert embeddings.dtype == np.float32 and pixels.dtype == np.float32
    assert embeddings.ndim == 2 and pixels.shape[1] == 64
    assert len(embeddings) == len(pixels) == len(labels) > 0
    assert np.isfinite(embeddings).all()
    assert set(labels.tolist()) == set(range(10))


def test_siamese_pixels_are_the_held_out_digits(committed):
    # The same stratified 70/30 split the script makes: the rows are real digits the network never saw.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    _, x_test, _, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.3, stratify=digits.target, random_state=0
    )
    np.testing.assert_array_equal(committed["labels"], y_test)
    np.testing.assert_allclose(committed["pixels"], x_test, rtol=0, atol=1e-7)


def test_siamese_pairs_are_balanced_distinct_and_labelled_by_digit(committed):
    pairs, labels = committed["pairs"], committed["labels"]
    assert committed["pairs_header"] == "left,right,label"
    assert pairs.shape[1] == 3
    left, right, same = pairs.T
    assert ((0 <= left) & (left < len(labels)) & (0 <= right) & (right < len(labels))).all()
    assert set(same.tolist()) == {0, 1}
    assert (same == 1).sum() == (same == 0).sum()
    assert (left != right).all()
    assert len({(min(i, j), max(i, j)) for i, j in zip(left, right)}) == len(pairs)
    np.testing.assert_array_equal(same, (labels[left] == labels[right]).astype(int))


def test_siamese_embeddings_separate_pairs_better_than_pixels(committed):
    trained = euclidean_auc(committed["embeddings"], committed["pairs"])
    raw = euclidean_auc(committed["pixels"], committed["pairs"])
    assert trained > 0.98
    assert trained - raw > 0.05


def test_siamese_embeddings_recall_at_1_at_least_pixels(committed):
    labels = committed["labels"]
    assert recall_at_1(committed["embeddings"], labels) >= recall_at_1(committed["pixels"], labels)
