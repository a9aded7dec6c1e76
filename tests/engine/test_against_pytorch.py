"""An independent implementation: the same model in torch.nn, its loss and autograd gradients
against ours, in float64. Skipped when PyTorch is not installed (it is an optional extra)."""

import os
import sys

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
from torch_reference import TorchEncoder, grads_in_our_names, load_params  # noqa: E402

from engine import ModelConfig, TransformerEncoder  # noqa: E402

from .gradients import batch, max_norm_error  # noqa: E402
from .test_model import CONFIGS  # noqa: E402


@pytest.mark.parametrize("name", CONFIGS)
def test_loss_and_every_gradient_equal_pytorch_autograd(name):
    cfg = ModelConfig(dtype="float64", **CONFIGS[name])
    ours = TransformerEncoder(cfg, seed=5)
    theirs = TorchEncoder(cfg)
    load_params(theirs, ours.params)
    tokens, targets = batch(cfg, B=4)
    loss, grads = ours.loss_and_grads(tokens, targets)
    torch_loss = theirs(torch.tensor(tokens), torch.tensor(targets))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    reference = grads_in_our_names(theirs)
    assert set(reference) == set(grads)
    for key, error in max_norm_error(grads, reference).items():
        assert error < 1e-10, key
