"""ModelConfig and TrainConfig reject bad values with a message that names the field."""

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig


def test_defaults_are_the_original_setup():
    cfg = ModelConfig()
    assert (cfg.vocab_size, cfg.seq_len, cfg.d_model, cfg.d_ff, cfg.n_heads, cfg.n_layers) == (20, 4, 32, 64, 1, 1)
    assert (cfg.causal, cfg.norm_first, cfg.activation, cfg.dtype) == (False, False, "relu", "float32")
    train = TrainConfig()
    assert (train.task, train.optimizer, train.samples, train.schedule) == ("next", "sgd", 200, "constant")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vocab_size=0), "vocab_size: must be a positive integer"),
        (dict(seq_len=-1), "seq_len: must be a positive integer"),
        (dict(d_model=0), "d_model: must be a positive integer"),
        (dict(n_layers=1.5), "n_layers: must be a positive integer"),
        (dict(d_ff=True), "d_ff: must be a positive integer"),
        (dict(d_model=33, n_heads=1), "d_model: must be even"),
        (dict(d_model=32, n_heads=3), "n_heads: d_model 32 is not divisible by 3 heads"),
        (dict(activation="tanh"), "activation: must be one of relu, gelu"),
        (dict(dtype="float16"), "dtype: must be one of float32, float64"),
        (dict(causal="yes"), "causal: must be True or False"),
    ],
)
def test_model_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(task="translate"), "task: must be one of"),
        (dict(optimizer="lbfgs"), "optimizer: must be one of"),
        (dict(lr=0), "lr: must be positive"),
        (dict(batch_size=0), "batch_size: must be a positive integer"),
        (dict(epochs=-3), "epochs: must be a positive integer"),
        (dict(clip=-1), "clip: must not be negative"),
        (dict(schedule="step"), "schedule: must be one of"),
        (dict(warmup=-1), "warmup: must be a whole number"),
        (dict(task="text"), "data: the text task needs a file"),
        (dict(data="x.txt"), "data: only the text task reads a file"),
        (dict(device="tpu"), "device: must be one of cpu, gpu"),
        (dict(beta2=1.0), "beta2: must be in"),
        (dict(lr="0.1"), "lr: must be a finite number, got '0.1'"),
        (dict(lr=float("inf")), "lr: must be a finite number, got inf"),
        (dict(momentum=None), "momentum: must be a finite number"),
        (dict(eps=float("nan")), "eps: must be a finite number"),
        (dict(task="text", data=5), "data: must be a file name"),
    ],
)
def test_train_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_numbers_are_stored_as_python_floats():
    cfg = TrainConfig(lr=np.float64(0.01), clip=np.float32(1.0), weight_decay=0)
    assert type(cfg.lr) is float and type(cfg.clip) is float and type(cfg.weight_decay) is float


def test_task_and_optimizer_defaults_fill_what_is_left_out():
    reverse = TrainConfig(task="reverse", optimizer="adam")
    assert reverse.batch_size == 32 and reverse.lr == 1e-3
    assert TrainConfig(task="reverse", optimizer="adam", lr=0.01, epochs=3).epochs == 3
