"""Vectors in 2-D by principal component analysis: centre the rows, take the SVD, keep the
first two axes. How the lab draws the token embeddings (the number line that forms on the
next and sort tasks) and the inputs of the probe's positions.

Legend: N vectors, C d_model.

    X = rows - mean(rows)                (N, C)
    X = U S V^T                          U (N, r), S (r,), V^T (r, C), r = min(N, C)
    points = U[:, :2] * S[:2]            = X @ V[:, :2], each row's coordinates on the axes
    explained = S[:2]^2 / sum(S^2)       the share of the variance along each axis

An axis's sign is arbitrary (U and V flipped together give the same X); it is fixed so that
the point farthest along each axis lies on its positive side, so replayed epochs do not flip.
"""

from __future__ import annotations

import numpy as np

from ..training.reports import Projection


def pca_2d(rows: np.ndarray) -> Projection:
    """rows (N, C) -> their Projection on the first two principal axes (float64). Where the
    rows span fewer than two directions, the missing axis is all zeros and explains 0."""
    x = np.asarray(rows, dtype=np.float64)
    x = x - x.mean(axis=0)  # (N, C)
    u, s, _ = np.linalg.svd(x, full_matrices=False)  # u (N, r), s (r,)
    points = np.zeros((len(x), 2))
    k = min(2, len(s))
    points[:, :k] = u[:, :k] * s[:k]  # (N, k)
    far = np.abs(points).argmax(axis=0)  # (2,) the row farthest along each axis
    points *= np.where(points[far, [0, 1]] < 0, -1.0, 1.0)  # ... on the positive side
    total = float((s * s).sum())
    explained = [float(v * v) / total if total > 0 else 0.0 for v in s[:2]] + [0.0] * (2 - k)
    return Projection(points, (explained[0], explained[1]))
