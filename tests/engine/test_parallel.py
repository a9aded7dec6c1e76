"""Batch-parallel work gives the same bits as doing it in one piece."""

import numpy as np

from engine import ModelConfig, TransformerEncoder, parallel


def test_chunks_cover_every_row_once():
    for n in (1, 2, 7, 64):
        for parts in (1, 2, 3, 8):
            rows = [i for s in parallel._chunks(n, parts) for i in range(n)[s]]
            assert rows == list(range(n))


def test_threaded_matmul_equals_numpy_exactly(monkeypatch):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 4, 64, 32)).astype(np.float32)
    b = rng.standard_normal((8, 4, 32, 64)).astype(np.float32)
    monkeypatch.setattr(parallel, "WORKERS", 2)
    assert a.size * 2 >= parallel.MIN_ELEMENTS  # big enough to be split
    np.testing.assert_array_equal(parallel.matmul(a, b), np.matmul(a, b))
    out = np.empty((8, 64, 4, 64), np.float32)  # a strided destination, as attention uses
    parallel.matmul(a, b, out=out.transpose(0, 2, 1, 3))
    np.testing.assert_array_equal(out.transpose(0, 2, 1, 3), np.matmul(a, b))


def test_a_step_is_bit_identical_with_and_without_threads(monkeypatch):
    cfg = ModelConfig(seq_len=64, d_model=64, n_heads=4, n_layers=2, d_ff=128)
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 20, (8, 64))
    targets = rng.integers(0, 20, (8, 64))
    results = []
    for workers in (1, 2):
        monkeypatch.setattr(parallel, "WORKERS", workers)
        results.append(TransformerEncoder(cfg, seed=0).loss_and_grads(tokens, targets))
    (loss1, grads1), (loss2, grads2) = results
    assert loss1 == loss2
    assert all(np.array_equal(grads1[k], grads2[k]) for k in grads1)
