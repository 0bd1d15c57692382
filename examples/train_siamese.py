"""Train a small Siamese network on scikit-learn's bundled digits and save its test embeddings.

A two-layer MLP (64 pixels -> 128 -> 32) maps each 8x8 digit to a 32-dimensional embedding.
It is trained with the contrastive loss of Hadsell, Chopra and LeCun (2006) on pairs of
training images, half showing the same digit and half different ones, drawn anew each epoch.
The held-out 30% of the images (stratified, fixed seed) are then embedded and written to
examples/siamese/ for `siamcli` to evaluate without PyTorch:

- test_embeddings.npy: the network's output for each test image (float32, 540 x 32).
- test_pixels.npy: the raw pixels of the same images in [0, 1] (float32, 540 x 64), the baseline.
- test_labels.txt: the digit of each test row, one per line.
- test_pairs.csv: 1,000 same-digit and 1,000 different-digit pairs of test rows,
  header `left,right,label` with 0-based row numbers and label 1 for same, 0 for different.

Runs on the CPU in 10-20 seconds, with byte-identical output on every run on the same machine. From the repository root:

    pip install torch scikit-learn && python examples/train_siamese.py
"""

import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

OUT = Path(__file__).parent / "siamese"
SEED = 0
EPOCHS = 100
BATCH = 128
MARGIN = 1.0
TEST_PAIRS_PER_LABEL = 1000


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Hadsell et al. (2006): y*d^2 + (1-y)*max(0, margin-d)^2, averaged over the pairs.

    Label convention: y = same = 1 for a pair showing the same digit (pulled together),
    y = 0 for different digits (pushed apart until they are at least `margin` away).
    d is the euclidean distance between the two embeddings.
    """
    d = torch.sqrt(((a - b) ** 2).sum(dim=1) + 1e-9)  # the epsilon keeps the gradient finite at d = 0
    return (same * d**2 + (1 - same) * torch.clamp(MARGIN - d, min=0) ** 2).mean()


def sample_pairs(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every row, one partner of the same class and one of another: balanced pairs."""
    rows_of = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    anchors = np.arange(len(labels))
    positives = np.array([rng.choice(rows_of[c][rows_of[c] != i]) for i, c in enumerate(labels)])
    negatives = np.array([rng.choice(np.flatnonzero(labels != c)) for c in labels])
    left = np.concatenate([anchors, anchors])
    right = np.concatenate([positives, negatives])
    same = np.concatenate([np.ones(len(labels)), np.zeros(len(labels))]).astype(np.float32)
    return left, right, same


def test_pair_list(labels: np.ndarray, per_label: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """`per_label` distinct same-digit and as many different-digit pairs (i < j, no self pairs)."""
    wanted = {1: per_label, 0: per_label}
    chosen: dict[tuple[int, int], int] = {}
    while any(wanted.values()):
        i, j = sorted(int(x) for x in rng.choice(len(labels), size=2, replace=False))
        same = int(labels[i] == labels[j])
        if wanted[same] and (i, j) not in chosen:
            chosen[(i, j)] = same
            wanted[same] -= 1
    return sorted((i, j, same) for (i, j), same in chosen.items())


def main() -> None:
    start = time.perf_counter()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # a network this small runs slower with more threads, most of all on a busy machine
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)

    digits = load_digits()
    pixels = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, digits.target, test_size=0.3, stratify=digits.target, random_state=SEED
    )

    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    train = torch.from_numpy(x_train)
    for epoch in range(EPOCHS):
        left, right, same = sample_pairs(y_train, rng)
        order = rng.permutation(len(same))
        total = 0.0
        for batch in np.array_split(order, int(np.ceil(len(order) / BATCH))):
            loss = contrastive_loss(net(train[left[batch]]), net(train[right[batch]]), torch.from_numpy(same[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if epoch % 25 == 24 or epoch == 0:
            print(f"epoch {epoch + 1:2d}: contrastive loss {total / len(order):.4f}")

    with torch.no_grad():
        embeddings = net(torch.from_numpy(x_test)).numpy().astype(np.float32)

    OUT.mkdir(exist_ok=True)
    np.save(OUT / "test_embeddings.npy", embeddings)
    np.save(OUT / "test_pixels.npy", x_test)
    (OUT / "test_labels.txt").write_text("".join(f"{label}\n" for label in y_test))
    pairs = test_pair_list(y_test, TEST_PAIRS_PER_LABEL, np.random.default_rng(SEED))
    (OUT / "test_pairs.csv").write_text("left,right,label\n" + "".join(f"{i},{j},{s}\n" for i, j, s in pairs))
    print(f"wrote {len(y_test)} test embeddings and {len(pairs)} pairs to {OUT} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
