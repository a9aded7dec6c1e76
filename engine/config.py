"""ModelConfig and TrainConfig: the two small dataclasses that say what to build and how to train it.

Both are validated once, when they are made; an invalid value raises ValueError naming the
field and the reason. Defaults reproduce the original setup: the `next` task, vocabulary 20,
sequence length 4, d_model 32, d_ff 64, one head, one post-LN layer, ReLU, plain SGD.
Every other task brings its own training defaults (TASK_DEFAULTS) and, where it needs
another model, its own model fields (model_defaults): both are read off the task's entry
in training/task_rules.py.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from .runtime.backend import DEVICES
from .training.task_rules import TASK_RULES

ACTIVATIONS = ("relu", "gelu")
DTYPES = ("float32", "float64")
TASKS = tuple(TASK_RULES)  # next, copy, reverse, sort, text
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "cosine")


def _require(ok: bool, field: str, why: str) -> None:
    if not ok:
        raise ValueError(f"{field}: {why}")


def _positive_int(obj, *fields: str) -> None:
    for field in fields:
        value = getattr(obj, field)
        _require(
            isinstance(value, int) and not isinstance(value, bool) and value > 0,
            field,
            f"must be a positive integer, got {value!r}",
        )


def _real(obj, *fields: str) -> None:
    """Store each field as a finite Python float (a NumPy float64 scalar would upcast float32 arrays)."""
    for field in fields:
        value = getattr(obj, field)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        _require(ok, field, f"must be a finite number, got {value!r}")
        object.__setattr__(obj, field, float(value))


def _one_of(obj, field: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, field)
    _require(value in choices, field, f"must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The shape and kind of the Transformer encoder."""

    vocab_size: int = 20  # V: number of distinct tokens (ids 0 .. V-1)
    seq_len: int = 4  # longest sequence the model takes: rows of the positional table
    d_model: int = 32  # C: width of the residual stream; even (sin/cos pairs)
    n_heads: int = 1  # H: attention heads; each sees D = C / H columns
    n_layers: int = 1  # L: encoder blocks stacked
    d_ff: int = 64  # F: hidden width of the position-wise feed-forward network
    causal: bool = False  # mask attention to later positions (position t sees 0..t)
    norm_first: bool = False  # pre-LN blocks and a final ln_f, instead of post-LN (the original)
    activation: str = "relu"  # feed-forward non-linearity: "relu" or "gelu" (tanh form)
    dtype: str = "float32"  # floating type of every parameter and activation

    def __post_init__(self) -> None:
        _positive_int(self, "vocab_size", "seq_len", "d_model", "n_heads", "n_layers", "d_ff")
        _require(
            self.d_model % 2 == 0,
            "d_model",
            f"must be even (sine and cosine pairs), got {self.d_model}",
        )
        _require(
            self.d_model % self.n_heads == 0,
            "n_heads",
            f"d_model {self.d_model} is not divisible by {self.n_heads} heads",
        )
        _require(isinstance(self.causal, bool), "causal", "must be True or False")
        _require(isinstance(self.norm_first, bool), "norm_first", "must be True or False")
        _one_of(self, "activation", ACTIVATIONS)
        _one_of(self, "dtype", DTYPES)

    @property
    def head_dim(self) -> int:
        """D: the columns each attention head works on."""
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# How each task trains when no flag says otherwise, and the model fields it sets: views of
# TASK_RULES (the measurements behind them are noted there). lr belongs to the row's
# optimizer: with another --optimizer, LR_DEFAULTS gives the rate.
TASK_DEFAULTS = {name: dict(rules.train) for name, rules in TASK_RULES.items()}
LR_DEFAULTS = {"sgd": 0.01, "momentum": 0.01, "adam": 1e-3, "adamw": 1e-3}
TASK_MODEL_DEFAULTS = {name: rules.model_defaults() for name, rules in TASK_RULES.items() if rules.model_defaults()}


def model_defaults(task: str) -> dict:
    """The ModelConfig fields `task` sets by default (a fresh dict: flags go on top of it)."""
    _require(task in TASKS, "task", f"must be one of {', '.join(TASKS)}, got {task!r}")
    return TASK_RULES[task].model_defaults()


@dataclass(frozen=True)
class TrainConfig:
    """What to learn and how: task, optimizer, schedule, batches, seed, device.

    Fields left as None take the task's default (TASK_DEFAULTS) when the config is made;
    lr takes the task's rate if the optimizer is the task's own, else LR_DEFAULTS's.
    """

    task: str = "next"  # next | copy | reverse | sort | text
    data: str | None = None  # UTF-8 text file for the text task
    samples: int | None = None  # training sequences
    val_samples: int | None = None  # held-out validation sequences
    optimizer: str | None = None  # sgd | momentum | adam | adamw
    lr: float | None = None  # peak learning rate
    momentum: float = 0.9  # SGD momentum coefficient
    beta1: float = 0.9  # Adam: decay of the first-moment average
    beta2: float = 0.999  # Adam: decay of the second-moment average
    eps: float = 1e-8  # Adam: added to the root of the second moment
    weight_decay: float = 0.01  # AdamW only: decoupled decay of weight matrices and the embedding
    batch_size: int | None = None  # sequences per optimizer step
    epochs: int | None = None  # passes over the training set (the run stops after this many)
    seed: int = 0  # seeds parameters, data and shuffling: same seed, same run
    clip: float = 0.0  # clip the global gradient norm to this value; 0 turns clipping off
    schedule: str | None = None  # constant | cosine (decays to 0 over the run)
    warmup: int = 0  # steps of linear warm-up from 0 to lr
    device: str = "cpu"  # cpu | gpu (CuPy)
    dropout: float = 0.0  # P: dropout on attention weights, ffn hidden units, before each residual add; training only
    patience: int = 0  # stop after this many epochs without a new best validation loss; 0: never

    def __post_init__(self) -> None:
        _one_of(self, "task", TASKS)
        defaults = dict(TASK_RULES[self.task].train)
        own_lr = defaults.pop("lr")  # the rate of the task's own optimizer
        for field, value in defaults.items():
            if getattr(self, field) is None:
                object.__setattr__(self, field, value)
        _one_of(self, "optimizer", OPTIMIZERS)
        _one_of(self, "schedule", SCHEDULES)
        _one_of(self, "device", DEVICES)
        if self.lr is None:
            lr = own_lr if self.optimizer == defaults["optimizer"] else LR_DEFAULTS[self.optimizer]
            object.__setattr__(self, "lr", lr)
        _positive_int(self, "samples", "val_samples", "batch_size", "epochs")
        _real(self, "lr", "momentum", "beta1", "beta2", "eps", "weight_decay", "clip", "dropout")
        _require(self.lr > 0, "lr", f"must be positive, got {self.lr}")
        _require(0 <= self.momentum < 1, "momentum", f"must be in [0, 1), got {self.momentum}")
        _require(0 <= self.beta1 < 1, "beta1", f"must be in [0, 1), got {self.beta1}")
        _require(0 <= self.beta2 < 1, "beta2", f"must be in [0, 1), got {self.beta2}")
        _require(self.eps > 0, "eps", f"must be positive, got {self.eps}")
        _require(self.weight_decay >= 0, "weight_decay", "must not be negative")
        _require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        _require(
            isinstance(self.patience, int) and self.patience >= 0,
            "patience",
            f"must be a whole number of epochs >= 0 (0: never stop early), got {self.patience!r}",
        )
        _require(self.clip >= 0, "clip", f"must not be negative (0 turns it off), got {self.clip}")
        _require(
            isinstance(self.warmup, int) and self.warmup >= 0,
            "warmup",
            f"must be a whole number of steps >= 0, got {self.warmup!r}",
        )
        _require(isinstance(self.seed, int) and self.seed >= 0, "seed", "must be an integer >= 0")
        _require(self.data is None or isinstance(self.data, str), "data", f"must be a file name, got {self.data!r}")
        reads_file = TASK_RULES[self.task].reads_file
        readers = " and ".join(name for name, rules in TASK_RULES.items() if rules.reads_file)
        _require(
            reads_file == (self.data is not None),
            "data",
            f"the {self.task} task needs a file (--data FILE)"
            if reads_file
            else f"only the {readers} task reads a file, not {self.task}",
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
