"""Vectors in 2-D by principal component analysis: centre the rows, take the SVD, keep the
first two axes. How the lab draws the token embeddings (the number line that forms on the
sort task, where a token's value is what matters) and the inputs of the probe's positions.

Legend: N vectors, C d_model.

    X = rows - mean(rows)                (N, C)
    X = U S V^T                          U (N, r), S (r,), V^T (r, C), r = min(N, C)
    points = U[:, :2] * S[:2]            = X @ V[:, :2], each row's coordinates on the axes
    explained = S[:2]^2 / sum(S^2)       the share of the variance along each axis

An axis's sign is arbitrary (U and V flipped together give the same X). It is fixed so that
replayed epochs (and the live picture) do not flip, by a rule that looks at all the points:

    follows = corr(i, points[:, k])      i = 0 .. N-1, the row index (token id, or position)
    |follows| >= 0.5:  the later rows on the positive side: a number line of tokens reads
                       0 .. V-1 left to right, however symmetric it is
    otherwise:         the heavier tail (the sign of sum(points[:, k]^3)) on the positive side
    where that is 0:   the point farthest along the axis on the positive side

(The farthest point alone flips a symmetric number line whenever its other end moves out
further: measured on the sort task with weight decay, 9 flips of PC1 in 120 looks at the
embedding every 25 steps, against 2 with this rule, both while the line was forming.) An
axis can still flip where the points follow no order and have no heavier tail, and the two
axes swap when their shares of the variance cross: no sign rule decides that.

Rows that are not all finite (a run that diverged) give nan points and nan shares.
"""

from __future__ import annotations

import numpy as np

from ..training.reports import Projection

FOLLOWS = 0.5  # an axis whose correlation with the row index is at least this follows the order


def pca_2d(rows: np.ndarray) -> Projection:
    """rows (N, C) -> their Projection on the first two principal axes (float64). Where the
    rows span fewer than two directions, the missing axis is all zeros and explains 0."""
    x = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(x).all():
        return Projection(np.full((len(x), 2), np.nan), (np.nan, np.nan))
    x = x - x.mean(axis=0)  # (N, C)
    u, s, _ = np.linalg.svd(x, full_matrices=False)  # u (N, r), s (r,)
    points = np.zeros((len(x), 2))
    k = min(2, len(s))
    points[:, :k] = u[:, :k] * s[:k]  # (N, k)
    points *= axis_signs(points)  # (N, 2)
    total = float((s * s).sum())
    explained = [float(v * v) / total if total > 0 else 0.0 for v in s[:2]] + [0.0] * (2 - k)
    return Projection(points, (explained[0], explained[1]))


def axis_signs(points: np.ndarray) -> np.ndarray:
    """points (N, 2) -> (2,) the sign (+1 or -1) that fixes each axis (the module's rule)."""
    order = np.arange(len(points)) - (len(points) - 1) / 2  # (N,) each row's place, centred
    with np.errstate(divide="ignore", invalid="ignore"):  # a flat axis (or one point): no correlation
        follows = order @ points / (np.linalg.norm(order) * np.linalg.norm(points, axis=0))  # (2,)
    tail = (points**3).sum(axis=0)  # (2,)
    far = points[np.abs(points).argmax(axis=0), [0, 1]]  # (2,) the farthest coordinate on each axis
    sign = np.where(tail != 0, np.sign(tail), np.where(far < 0, -1.0, 1.0))
    return np.where(np.abs(follows) >= FOLLOWS, np.sign(follows), sign)
