"""float32 stays float32 end to end (a float64 scalar or mixed-dtype matmul would silently
upcast and leave BLAS's fast path), and float32 gradients agree with float64 ones."""

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.components import loss as cross_entropy

from .gradients import batch, max_norm_error
from .test_model import CONFIGS


def arrays_in(obj):
    """Every NumPy array inside nested NamedTuples, tuples, lists and dicts."""
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from arrays_in(value)
    elif isinstance(obj, (tuple, list)):
        for value in obj:
            yield from arrays_in(value)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_activation_cache_entry_and_gradient_is_float32(name):
    cfg = ModelConfig(**CONFIGS[name])
    model = TransformerEncoder(cfg)
    tokens, targets = batch(cfg)
    logits, cache = model.forward(tokens)
    value, c_loss = cross_entropy.forward(logits, targets)
    dlogits = cross_entropy.backward(1.0, c_loss)
    grads, dx0 = model.backward(dlogits, cache)
    floating = [a for a in arrays_in((logits, cache, c_loss, dlogits, grads, dx0)) if a.dtype.kind == "f"]
    assert len(floating) > 20
    assert {a.dtype for a in floating} == {np.dtype(np.float32)}
    assert model.flat.dtype == np.float32 and all(p.dtype == np.float32 for p in model.params.values())


def test_float32_gradients_agree_with_float64_to_1e_4():
    for name, kwargs in CONFIGS.items():
        grads = {}
        for dtype in ("float32", "float64"):
            cfg = ModelConfig(dtype=dtype, **kwargs)
            model = TransformerEncoder(cfg, seed=2)  # the same numbers: drawn in float64, then cast
            _, grads[dtype] = model.loss_and_grads(*batch(cfg, B=4))
        as64 = {key: g.astype(np.float64) for key, g in grads["float32"].items()}
        for key, error in max_norm_error(as64, grads["float64"]).items():
            assert error < 1e-4, f"{name}: {key} differs by {error:.1e}"
