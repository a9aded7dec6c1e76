"""The rules of every task, one entry each: how its targets follow from its tokens, whether
it reads a file, whether it needs a causal model, and how it trains by default.

    next     tokens over 0..V-2, each target is its input token + 1 (the original task)
    copy     the target at each position is the input token there
    reverse  the target at position t is the input token at position T-1-t
    sort     the targets are the input tokens in ascending order
    text     next-character prediction over a UTF-8 text file (needs a causal model)

A new synthetic task is one entry in TASK_RULES: tasks.py draws its random sequences and
asks the entry for their targets; config.py takes its defaults from here. The training
defaults were measured by benchmarks/task_defaults.py; their lr belongs to the entry's own
optimizer (with another optimizer, config.LR_DEFAULTS gives the rate). Model fields an
entry leaves out keep ModelConfig's defaults (the original setup).

Legend: N sequences, T sequence length, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..components.loss import IGNORE


@dataclass(frozen=True)
class TaskRules:
    """Everything that makes one task what it is."""

    name: str
    targets: Callable[[np.ndarray, int], np.ndarray]  # (tokens (N, T), V) -> (N, T) answers, IGNORE where unknown
    train: dict  # TrainConfig defaults: optimizer, lr (that optimizer's), schedule, batch_size, epochs, samples, ...
    model: dict = field(default_factory=dict)  # ModelConfig fields it sets where no flag does (causal aside)
    needs_causal: bool = False  # a model that sees later positions could read the answer off its input
    reads_file: bool = False  # its data are windows of a UTF-8 text file (--data), not random sequences
    spare_tokens: int = 0  # the top ids its random inputs never hold (next keeps V-1 free for token + 1)

    def model_defaults(self) -> dict:
        """The ModelConfig fields this task sets by default (a fresh dict: flags go on top of it)."""
        return {**self.model, **({"causal": True} if self.needs_causal else {})}


def next_targets(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """token + 1; the largest token, V-1, has no successor (only typed sequences hold it)."""
    return np.where(tokens + 1 < vocab_size, tokens + 1, IGNORE)  # (N, T)


def copy_targets(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    return tokens.copy()  # (N, T)


def reverse_targets(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    return tokens[:, ::-1].copy()  # (N, T)


def sort_targets(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    return np.sort(tokens, axis=1)  # (N, T)


def text_targets(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """The next character; unknown after the last one (the file's windows bring their own)."""
    return np.concatenate([tokens[:, 1:], np.full((tokens.shape[0], 1), IGNORE)], axis=1)  # (N, T)


# fmt: off
TASK_RULES = {rules.name: rules for rules in (
    # the original setup: plain SGD on one sequence at a time; 100% in a few seconds
    TaskRules("next", next_targets, spare_tokens=1,
              train=dict(optimizer="sgd", lr=0.01, schedule="constant",
                         batch_size=1, epochs=20, samples=200, val_samples=200)),
    # each position keeps its own token: Adam is at 100% in 2 epochs (SGD gets there too, less sure)
    TaskRules("copy", copy_targets,
              train=dict(optimizer="adam", lr=1e-3, schedule="constant",
                         batch_size=32, epochs=10, samples=2000, val_samples=500)),
    # attention must learn the anti-diagonal: SGD is near 45% after 20 epochs, Adam at 100%
    TaskRules("reverse", reverse_targets,
              train=dict(optimizer="adam", lr=1e-3, schedule="constant",
                         batch_size=32, epochs=20, samples=2000, val_samples=500)),
    # Adam on 2000 samples learns them by heart (98% held out); 10000, 3e-3 and a cosine tail: 99.9%
    TaskRules("sort", sort_targets,
              train=dict(optimizer="adam", lr=3e-3, schedule="cosine",
                         batch_size=32, epochs=15, samples=10000, val_samples=500)),
    # characters need context: 32 of them, 2 pre-LN layers of 4 heads; causal, or the model reads the answer.
    # Width 128 (d_ff 512) learns 30-50 kB of text faster than width 64 and overfits it: on README.md as of
    # 2026-11-28 (49 kB; bigram 3.01) the validation loss is lowest at epoch 4 (2.30-2.37 nats, seeds 0-2) and
    # rises after, with --dropout 0.1 it falls to 2.21-2.35 at epoch 5-6: the file to watch overfitting and its cure
    TaskRules("text", text_targets, needs_causal=True, reads_file=True,
              train=dict(optimizer="adamw", lr=3e-3, schedule="cosine",
                         batch_size=32, epochs=6, samples=4000, val_samples=500),
              model=dict(seq_len=32, d_model=128, n_heads=4, n_layers=2, d_ff=512, norm_first=True)),
)}
# fmt: on
