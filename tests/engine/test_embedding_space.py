"""PCA of the embedding space (engine/analysis/embedding_space.py) against the SVD of the
centred matrix computed here, the documented sign rule written out again here, and the
probe's two projections against the model's parameters and the sinusoidal table."""

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.analysis.embedding_space import pca_2d
from engine.analysis.probe import look
from engine.components.positional import sinusoidal

TOL = 1e-10


def by_svd(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rows (N, C) -> (coordinates on the first two principal axes (N, 2), their shares (2,)),
    with the SVD's own signs."""
    x = rows - rows.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    points = np.zeros((len(x), 2))
    k = min(2, len(s))
    points[:, :k] = x @ vt[:k].T
    shares = np.zeros(2)
    shares[:k] = s[:k] ** 2 / (s**2).sum()
    return points, shares


def by_the_documented_rule(points: np.ndarray) -> np.ndarray:
    """Flip each axis as the module's docstring says: the later rows on the positive side where
    the axis follows the row order (|corr| >= 0.5), else the heavier tail (sum of cubes), else
    the farthest point."""
    out = points.copy()
    index = np.arange(len(points), dtype=np.float64)
    for k in range(2):
        x = points[:, k]
        follows = np.corrcoef(index, x)[0, 1] if len(x) > 1 and x.std() > 0 else 0.0
        if abs(follows) >= 0.5:
            sign = np.sign(follows)
        elif np.sum(x**3) != 0:
            sign = np.sign(np.sum(x**3))
        else:
            sign = -1.0 if x[np.argmax(np.abs(x))] < 0 else 1.0
        out[:, k] *= sign
    return out


@pytest.mark.parametrize("shape", [(20, 32), (40, 8), (5, 3), (2, 6)])
def test_pca_is_the_svd_of_the_centred_rows_up_to_each_axis_sign(shape):
    rows = np.random.default_rng(1).standard_normal(shape) * [1.0 + i for i in range(shape[1])]
    got = pca_2d(rows)
    want, shares = by_svd(rows)
    for k in range(2):
        assert np.allclose(got.points[:, k], want[:, k], atol=TOL) or np.allclose(
            got.points[:, k], -want[:, k], atol=TOL
        )
    assert np.allclose(got.points, by_the_documented_rule(want), atol=TOL)  # exactly, with the rule applied
    assert np.allclose(got.explained, shares, atol=TOL)
    assert got.points.dtype == np.float64


def test_the_picture_does_not_depend_on_the_svds_arbitrary_signs():
    """The same cloud of points, however it is given (negated, rotated in the embedding space),
    gives the same picture: the sign comes from the points, not from the SVD routine."""
    rng = np.random.default_rng(2)
    rows = rng.standard_normal((15, 6)) * [4.0, 2.0, 1.0, 0.5, 0.3, 0.1]
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))  # an orthogonal matrix
    first = pca_2d(rows).points
    assert np.allclose(pca_2d(-rows).points, first, atol=TOL)
    assert np.allclose(pca_2d(rows @ q).points, first, atol=TOL)


def test_a_number_line_reads_in_token_order_left_to_right():
    """Tokens evenly spaced along one direction (a symmetric line, whose far ends are equally
    far): the later tokens lie on PC1's positive side, whichever way the line points."""
    for seed in range(8):  # (the farthest point alone would put either end on the right: a coin toss each)
        rng = np.random.default_rng(seed)
        line = np.arange(20)[:, None] * rng.standard_normal(16) + 0.01 * rng.standard_normal((20, 16))
        for rows in (line, -line):
            x = pca_2d(rows).points[:, 0]
            assert (np.diff(x) > 0).all()


def test_an_axis_without_order_puts_its_heavier_tail_on_the_positive_side():
    rng = np.random.default_rng(4)
    x = np.r_[np.full(4, -1.0), 9.0, np.full(5, -1.0)]  # one point far out, mid-way in the order
    assert abs(np.corrcoef(np.arange(10), x)[0, 1]) < 0.5  # so the order does not decide
    rows = np.c_[x, 0.1 * rng.standard_normal(10), np.zeros(10)]
    for given in (rows, -rows):
        got = pca_2d(given).points[:, 0]
        assert got[4] > 8.9 and (np.delete(got, 4) < 0).all()


def test_rank_one_rows_have_one_axis_and_a_second_of_zeros():
    a = np.array([3.0, -1.0, 4.0, 1.0, -5.0, 9.0])
    v = np.array([2.0, 0.0, -1.0, 2.0])
    rows = np.outer(a, v) + 7.0  # (6, 4), every row on one line
    got = pca_2d(rows)
    want = (a - a.mean()) * np.linalg.norm(v)  # the distance along the line, from the mean
    assert np.allclose(np.abs(got.points[:, 0]), np.abs(want), atol=TOL)
    assert np.allclose(got.points[:, 1], 0.0, atol=TOL)
    assert got.explained[0] == pytest.approx(1.0) and got.explained[1] == pytest.approx(0.0, abs=1e-20)


def test_one_point_sits_at_the_origin_and_explains_nothing():
    got = pca_2d(np.array([[1.0, 2.0, 3.0]]))
    assert np.array_equal(got.points, [[0.0, 0.0]]) and got.explained == (0.0, 0.0)


def test_float32_rows_are_projected_in_float64():
    rows32 = np.random.default_rng(5).standard_normal((12, 8)).astype(np.float32)
    got = pca_2d(rows32)
    want, shares = by_svd(rows32.astype(np.float64))
    assert got.points.dtype == np.float64
    assert np.allclose(got.points, by_the_documented_rule(want), atol=TOL)
    assert np.allclose(got.explained, shares, atol=TOL)


def test_rows_that_are_not_finite_give_nan_not_an_error():
    rows = np.ones((4, 3))
    rows[2, 1] = np.inf
    got = pca_2d(rows)
    assert got.points.shape == (4, 2) and np.isnan(got.points).all() and np.isnan(got.explained).all()


def by_eigh(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Another way to PCA (no SVD): the eigenvectors of the centred rows' scatter matrix."""
    x = rows - rows.mean(axis=0)
    values, vectors = np.linalg.eigh(x.T @ x)  # ascending
    top = vectors[:, ::-1][:, :2]  # (C, 2)
    return by_the_documented_rule(x @ top), values[::-1][:2] / values.sum()


def test_the_probe_projects_the_embedding_and_its_inputs_embed_plus_pe():
    cfg = ModelConfig(vocab_size=9, seq_len=6, d_model=8, n_heads=2, n_layers=1, d_ff=12, dtype="float64")
    model = TransformerEncoder(cfg, seed=7)
    tokens = np.array([[4, 0, 8, 4, 2, 5]])
    probe = look(model, tokens, np.full((1, 6), -1))
    embed = np.asarray(model.params["embed"])  # (V, C)
    inputs = embed[tokens[0]] + sinusoidal(6, 8)  # (T, C): embed[token] + PE[position]
    for projection, rows in ((probe.embedding, embed), (probe.inputs, inputs)):
        points, shares = by_eigh(rows)
        assert projection.points.shape == (len(rows), 2)
        assert np.allclose(projection.points, points, atol=1e-8)
        assert np.allclose(projection.explained, shares, atol=1e-10)
