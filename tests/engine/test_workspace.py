"""The training path's Workspace (engine/runtime/workspace.py): the same numbers to the bit as
fresh arrays, and nothing anyone holds is ever written over, whatever runs after it."""

import sys
import threading

import numpy as np
import pytest

import engine.runtime.workspace
from engine import ModelConfig, TransformerEncoder
from engine.components import loss
from engine.components.dropout import Dropout, Fixed
from engine.runtime.backend import to_numpy
from engine.runtime.workspace import CACHE_LINE, Workspace, aligned_empty

from . import gradients

# large enough that a pass takes the workspace (engine.runtime.workspace.WORKSPACE_MIN_BYTES) and page-faults without it
MID = dict(vocab_size=48, seq_len=16, d_model=64, n_heads=4, n_layers=2, d_ff=256)


def batch(cfg: ModelConfig, B: int = 16, seed: int = 0):
    """gradients.batch, 16 sequences by default: enough for a pass through the workspace."""
    return gradients.batch(cfg, B, seed=seed)


def fresh_loss_and_grads(model, tokens, targets, dropout=None):
    """loss_and_grads without a workspace: every array fresh from NumPy."""
    logits, cache = model.forward(tokens, dropout=dropout)
    value, c_loss = loss.forward(logits, targets)
    grads, _ = model.backward(loss.backward(1.0, c_loss), cache)
    return value, grads


def workspace_of(model) -> Workspace:
    return model.workspaces.local.workspace


def snapshot(grads: dict) -> dict:
    return {k: np.array(to_numpy(g)) for k, g in grads.items()}


def assert_same_bits(got: dict, want: dict):
    assert list(got) == list(want)
    for k in want:
        g, w = to_numpy(got[k]), to_numpy(want[k])
        assert g.dtype == w.dtype and g.shape == w.shape, k
        assert g.tobytes() == w.tobytes(), f"{k}: largest difference {np.abs(g - w).max()}"


# ------------------------------------------------------------------------- same numbers
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_the_workspace_gives_the_bits_of_fresh_arrays(dtype, norm_first, activation):
    cfg = ModelConfig(**MID, dtype=dtype, norm_first=norm_first, activation=activation, causal=norm_first)
    model = TransformerEncoder(cfg, seed=2)
    for step in range(3):  # the first pass allocates the buffers, the others reuse them
        tokens, targets = batch(cfg, seed=step)
        want_loss, want = fresh_loss_and_grads(model, tokens, targets)
        got_loss, got = model.loss_and_grads(tokens, targets)
        assert got_loss == want_loss
        assert_same_bits(got, want)
    assert workspace_of(model).buffers  # the passes above did take the workspace


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_with_dropout_masks_too(dtype, norm_first):
    cfg = ModelConfig(**MID, dtype=dtype, norm_first=norm_first)
    model = TransformerEncoder(cfg, seed=3)
    tokens, targets = batch(cfg)
    for step in range(3):
        fresh = fresh_loss_and_grads(model, tokens, targets, Dropout(0.25, np.random.default_rng(step)))
        got = model.loss_and_grads(tokens, targets, Dropout(0.25, np.random.default_rng(step)))
        assert got[0] == fresh[0]
        assert_same_bits(got[1], fresh[1])
    masks = Fixed(Dropout(0.1, np.random.default_rng(9)))  # the gradient check's kind: the same masks every pass
    want = fresh_loss_and_grads(model, tokens, targets, masks)
    for _ in range(2):
        got = model.loss_and_grads(tokens, targets, masks)
        assert got[0] == want[0]
        assert_same_bits(got[1], want[1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_backward_writes_the_gradients_into_grad_out(dtype):
    cfg = ModelConfig(**MID, dtype=dtype)
    model = TransformerEncoder(cfg, seed=4)
    flat = np.full(model.layout.size, np.nan, dtype=dtype)
    for step in range(3):
        tokens, targets = batch(cfg, seed=step)
        dropout = Dropout(0.2, np.random.default_rng(step))
        want_loss, want = fresh_loss_and_grads(model, tokens, targets, Dropout(0.2, np.random.default_rng(step)))
        value, grads, logits = model.forward_backward(tokens, targets, dropout, grad_out=flat)
        assert float(value) == want_loss
        assert_same_bits(grads, want)
        assert all(np.shares_memory(g, flat) for g in grads.values())  # views of grad_out
        assert flat.tobytes() == model.layout.flatten(want).tobytes()
        fresh_logits = model.forward(tokens, dropout=Dropout(0.2, np.random.default_rng(step)))[0]
        assert_same_bits({"logits": logits}, {"logits": fresh_logits})


def test_forward_backward_without_grad_out_gives_gradients_of_its_own():
    cfg = ModelConfig(**MID)
    model = TransformerEncoder(cfg, seed=5)
    tokens, targets = batch(cfg)
    want_loss, want = fresh_loss_and_grads(model, tokens, targets)
    value, grads, logits = model.forward_backward(tokens, targets)
    assert float(value) == want_loss
    assert_same_bits(grads, want)
    assert_same_bits({"logits": logits}, {"logits": model.forward(tokens)[0]})


def test_a_small_pass_takes_fresh_arrays(monkeypatch):
    model = TransformerEncoder(ModelConfig(), seed=0)  # the original: (1, 4) batches are a few hundred bytes
    tokens, targets = batch(model.cfg, B=1)
    model.loss_and_grads(tokens, targets)
    assert getattr(model.workspaces.local, "workspace", None) is None
    monkeypatch.setattr(engine.runtime.workspace, "WORKSPACE_MIN_BYTES", 0)  # the same pass through a workspace
    want = fresh_loss_and_grads(model, tokens, targets)
    got = model.loss_and_grads(tokens, targets)
    assert got[0] == want[0]
    assert_same_bits(got[1], want[1])
    assert workspace_of(model).buffers


# ----------------------------------------------------------------- nothing is overwritten
def test_two_calls_keep_separate_gradients():
    cfg = ModelConfig(**MID)
    model = TransformerEncoder(cfg, seed=6)
    first_loss, first = model.loss_and_grads(*batch(cfg, seed=1))
    kept = snapshot(first)
    second_loss, second = model.loss_and_grads(*batch(cfg, seed=2))
    assert second_loss != first_loss
    assert_same_bits(first, kept)  # the second call changed none of the first call's gradients
    for k in first:
        assert not np.shares_memory(first[k], second[k]), k
        assert not np.array_equal(first[k], second[k]) or k.endswith(".attn.bk"), k  # bk's gradient is 0 by design
    model.flat *= 0.5  # a third call, with other parameters, after an update
    model.loss_and_grads(*batch(cfg, seed=3))
    assert_same_bits(first, kept)


def test_gradients_kept_in_a_list_stay_as_they_were():
    cfg = ModelConfig(**MID)
    model = TransformerEncoder(cfg, seed=7)
    runs = [model.loss_and_grads(*batch(cfg, seed=s))[1] for s in range(4)]
    for s, grads in enumerate(runs):
        assert_same_bits(grads, fresh_loss_and_grads(model, *batch(cfg, seed=s))[1])


def test_a_forward_pass_for_analysis_is_not_overwritten_by_training():
    cfg = ModelConfig(**MID, causal=True)
    model = TransformerEncoder(cfg, seed=8)
    tokens, targets = batch(cfg)
    model.loss_and_grads(tokens, targets)  # the workspace exists and has its buffers
    logits, cache = model.forward(tokens)
    assert cache.ws is None
    kept = {
        "logits": logits.copy(),
        "probs": cache.blocks[0].attn.probs.copy(),
        "relu": cache.blocks[1].ffn.act.copy(),
        "out": cache.blocks[1].out.copy(),
    }
    flat = np.empty(model.layout.size, dtype=cfg.dtype)
    for step in range(3):  # training steps, both kinds, with other data and other parameters
        model.loss_and_grads(*batch(cfg, seed=10 + step))
        model.forward_backward(*batch(cfg, seed=20 + step), Dropout(0.3, np.random.default_rng(step)), grad_out=flat)
        model.flat -= 0.01 * flat
    now = {"logits": logits, "probs": cache.blocks[0].attn.probs, "relu": cache.blocks[1].ffn.act,
           "out": cache.blocks[1].out}  # fmt: skip
    assert_same_bits(now, kept)


def test_logits_held_from_a_training_step_are_not_overwritten_by_the_next():
    cfg = ModelConfig(**MID)
    model = TransformerEncoder(cfg, seed=9)
    flat = np.empty(model.layout.size, dtype=cfg.dtype)
    _, _, logits = model.forward_backward(*batch(cfg, seed=1), grad_out=flat)
    kept = logits.copy()
    _, _, later = model.forward_backward(*batch(cfg, seed=2), grad_out=flat)
    assert not np.shares_memory(logits, later)
    assert_same_bits({"logits": logits}, {"logits": kept})


def test_two_threads_train_one_model_at_once():
    cfg = ModelConfig(**MID)
    model = TransformerEncoder(cfg, seed=10)
    batches = [batch(cfg, seed=s) for s in range(4)]
    want = [fresh_loss_and_grads(model, *b) for b in batches]
    got: dict = {}

    def work(i):
        for _ in range(5):
            got[i] = model.loss_and_grads(*batches[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (value, grads) in enumerate(want):
        assert got[i][0] == value
        assert_same_bits(got[i][1], grads)


# -------------------------------------------------------------------------- the workspace
def test_a_buffer_comes_back_only_once_nothing_refers_to_it():
    ws = Workspace()
    f32 = np.dtype(np.float32)
    ws.start()
    a = ws.empty((4, 8), f32)
    b = ws.empty((4, 8), f32)
    assert a is not b  # a is still held
    view = a.T[1:]
    del a
    c = ws.empty((4, 8), f32)
    assert c is not view.base and c is not b  # a view holds its array: a is not free
    del view, b, c
    ws.start()
    again = [ws.empty((4, 8), f32) for _ in range(3)]  # the plan: the same buffers, in the same order
    assert len(ws.buffers) == 3 and len({id(x) for x in again}) == 3
    assert ws.empty((8, 4), f32) is not None and len(ws.buffers) == 4  # another shape: another buffer
    assert ws.empty((4, 8), np.dtype(np.float64)).dtype == np.float64


def test_a_buffer_serves_any_shape_of_its_size_and_its_views_keep_it():
    ws = Workspace()
    f32 = np.dtype(np.float32)
    ws.start()
    a = ws.empty((2, 3, 4), f32)
    address = a.ctypes.data
    del a
    b = ws.empty((6, 4), f32)  # as many entries: the same memory, in this shape
    assert b.shape == (6, 4) and b.ctypes.data == address and len(ws.buffers) == 1
    c = ws.empty((24,), f32)  # b, a view of the buffer, holds it: another one
    assert c.ctypes.data != address and len(ws.buffers) == 2


def test_the_plan_hands_each_request_its_buffer_of_the_last_pass():
    ws = Workspace()
    f64 = np.dtype(np.float64)
    first = []
    ws.start()
    for shape in [(3,), (5, 2), (3,), (7,)]:
        first.append(ws.empty(shape, f64))
    ids = [id(x) for x in first]
    del first
    for _ in range(3):
        ws.start()
        held = [ws.empty(shape, f64) for shape in [(3,), (5, 2), (3,), (7,)]]
        assert [id(x) for x in held] == ids
        del held


def test_buffers_start_on_a_cache_line_and_zeros_are_zeros():
    for shape, dtype in [((3, 5), np.float32), ((1,), np.float64), ((0, 4), np.float32), ((16, 33), np.int64)]:
        a = aligned_empty(shape, np.dtype(dtype))
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
        assert a.ctypes.data % CACHE_LINE == 0
    ws = Workspace()
    ws.start()
    z = ws.empty((6,), np.dtype(np.float32))
    z[...] = 7
    del z
    ws.start()
    assert (ws.zeros((6,), np.dtype(np.float32)) == 0).all()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="minor page faults as Linux counts them")
def test_a_training_step_page_faults_no_more_after_the_first():
    import resource

    cfg = ModelConfig(**{**MID, "d_ff": 512})
    model = TransformerEncoder(cfg, seed=11)
    tokens, targets = batch(cfg, B=32)  # (B*T, F) float32: 1 MiB, glibc's malloc would mmap it afresh
    flat = np.empty(model.layout.size, dtype=cfg.dtype)
    for _ in range(3):
        model.forward_backward(tokens, targets, grad_out=flat)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        model.forward_backward(tokens, targets, grad_out=flat)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
    assert faults < 50, f"{faults:.0f} minor page faults a step"  # thousands without the workspace


def test_the_gpu_path_takes_no_workspace_and_fills_grad_out(fake_gpu):
    cfg = ModelConfig(**MID, dtype="float64")
    tokens, targets = batch(cfg)
    cpu = TransformerEncoder(cfg, seed=12)
    want_loss, want = fresh_loss_and_grads(cpu, tokens, targets)
    gpu = TransformerEncoder(cfg, seed=12, device="gpu")
    flat = fake_gpu.zeros(gpu.layout.size, dtype=cfg.dtype)
    value, grads, logits = gpu.forward_backward(gpu.xp.asarray(tokens), gpu.xp.asarray(targets), grad_out=flat)
    assert getattr(gpu.workspaces.local, "workspace", None) is None
    assert isinstance(logits, fake_gpu.ndarray) and float(value) == pytest.approx(want_loss, rel=1e-12)
    for k, g in grads.items():
        assert isinstance(g, fake_gpu.ndarray) and np.shares_memory(g, flat), k
        np.testing.assert_allclose(to_numpy(g), want[k], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(to_numpy(flat), cpu.layout.flatten(want), rtol=1e-9, atol=1e-12)
