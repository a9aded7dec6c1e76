"""The tasks: seeded generators of (tokens, targets) with a training and a held-out split.

What each task asks of the model (its targets, whether it reads a file or needs a causal
model) is its entry in task_rules.py; this module makes the data. copy, reverse and sort
can only be solved by looking at other positions, so their attention maps show something:
reverse learns an anti-diagonal. Synthetic validation sequences never occur in the
training set; a task that reads a file trains on its first 90% and validates on the last 10%.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..components.loss import IGNORE
from ..config import TrainConfig
from ..runtime.files import read_error
from .task_rules import TASK_RULES, TaskRules

TEXT_TRAIN_FRACTION = 0.9


class TaskError(ValueError):
    """The task cannot be built: a bad data file, or sizes the task cannot meet."""


@dataclass
class Task:
    """A task's data and vocabulary. tokens / targets are int64 arrays of shape (N, T)."""

    name: str
    vocab_size: int
    seq_len: int
    train_tokens: np.ndarray
    train_targets: np.ndarray
    val_tokens: np.ndarray
    val_targets: np.ndarray
    chars: str | None = None  # the text task's vocabulary: token id i is chars[i]

    @property
    def rules(self) -> TaskRules:
        """The task's entry in TASK_RULES: its targets, its needs, its defaults."""
        return TASK_RULES[self.name]

    @property
    def needs_causal(self) -> bool:
        """True when a model that sees later positions could read the answer off its input."""
        return self.rules.needs_causal

    def label(self, token: int) -> str:
        """How to show a token: its id, or a visible form of its character."""
        if token == IGNORE:
            return "·"
        if self.chars is None:
            return str(token)
        return visible(self.chars[token])

    def probe(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed sample the lab looks into: the first validation sequence, (1, T) each."""
        return self.val_tokens[:1], self.val_targets[:1]

    def parse(self, text: str) -> np.ndarray:
        """A sequence a user typed -> tokens (1, T). Synthetic tasks take ids separated by
        spaces or commas, the text task takes characters. ValueError says what is wrong."""
        if self.chars is not None:
            unknown = sorted(set(text) - set(self.chars))
            if unknown:
                shown = " ".join(repr(c) for c in unknown[:5])
                raise ValueError(f"not in the vocabulary of the text: {shown}")
            ids = [self.chars.index(c) for c in text]
        else:
            ids = [token_id(word) for word in text.replace(",", " ").split()]
            bad = [i for i in ids if not 0 <= i < self.vocab_size]
            if bad:
                raise ValueError(f"token {bad[0]} is outside the vocabulary 0..{self.vocab_size - 1}")
        if not 1 <= len(ids) <= self.seq_len:
            raise ValueError(f"type 1 to {self.seq_len} tokens, got {len(ids)}")
        return np.asarray([ids], dtype=np.int64)

    def targets_for(self, tokens: np.ndarray) -> np.ndarray:
        """The right answers for any tokens (1, T); -1 where the task does not know one
        (the text task cannot know the character after the last one typed)."""
        return self.rules.targets(tokens, self.vocab_size)


def token_id(word: str) -> int:
    """One typed token id; ValueError for anything but a whole number in ASCII digits."""
    if not re.fullmatch(r"-?[0-9]+", word):
        raise ValueError(f"{word!r} is not a token id (type ids like 3 9 1)")
    return int(word)


def visible(ch: str) -> str:
    """A one-cell picture of a character: space, newline and tab get symbols."""
    return {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}.get(ch, ch if ch.isprintable() else "?")


def make_task(cfg: TrainConfig, vocab_size: int = 20, seq_len: int = 4) -> Task:
    """Build the task `cfg.task`; a task that reads a file takes its vocabulary from the file."""
    if TASK_RULES[cfg.task].reads_file:
        return make_text_task(cfg.data, seq_len, cfg.samples, cfg.val_samples, cfg.seed, cfg.task)
    return make_synthetic_task(cfg.task, vocab_size, seq_len, cfg.samples, cfg.val_samples, cfg.seed)


def make_synthetic_task(name: str, vocab_size: int, seq_len: int, samples: int, val_samples: int, seed: int) -> Task:
    """Random training sequences, and validation sequences that are not among them."""
    rules = TASK_RULES[name]
    high = vocab_size - rules.spare_tokens  # inputs are 0..high-1: next keeps room for token + 1
    if high < 1:
        least = rules.spare_tokens + 1
        raise TaskError(f"the {name} task needs a vocabulary of at least {least} tokens, got {vocab_size}")
    distinct = high**seq_len
    if distinct < samples + val_samples:
        raise TaskError(
            f"the {name} task with vocabulary {vocab_size} and sequence length {seq_len} has only "
            f"{distinct} distinct sequences, fewer than {samples} training + {val_samples} validation samples"
        )
    rng = np.random.default_rng(seed)
    train = rng.integers(0, high, size=(samples, seq_len))
    seen = {row.tobytes() for row in train}
    val = np.empty((val_samples, seq_len), dtype=np.int64)
    filled = 0
    while filled < val_samples:  # rejection sampling; a few rounds at most in practice
        for row in rng.integers(0, high, size=(2 * val_samples, seq_len)):
            key = row.tobytes()
            if key not in seen and filled < val_samples:
                seen.add(key)
                val[filled] = row
                filled += 1
    train = train.astype(np.int64)
    return Task(
        name, vocab_size, seq_len,
        train, rules.targets(train, vocab_size), val, rules.targets(val, vocab_size),
    )  # fmt: skip


def read_text(path: str) -> str:
    """The file's text; TaskError with the file's name for anything that is not UTF-8 text."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise TaskError(read_error(path, err, "a text file")) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TaskError(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    if not text:
        raise TaskError(f"{path}: is empty")
    return text


def make_text_task(path: str, seq_len: int, samples: int, val_samples: int, seed: int, name: str = "text") -> Task:
    """Windows of seq_len + 1 characters: tokens are the first seq_len, targets the last."""
    text = read_text(path)
    chars = "".join(sorted(set(text)))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
    split = int(len(ids) * TEXT_TRAIN_FRACTION)
    need = int(np.ceil((seq_len + 1) / (1 - TEXT_TRAIN_FRACTION)))
    if min(split, len(ids) - split) < seq_len + 1:
        raise TaskError(
            f"{path}: {len(ids)} characters is too short for sequence length {seq_len} "
            f"(needs at least {need}: 90% to train on, 10% to validate)"
        )
    rng = np.random.default_rng(seed)
    train_tokens, train_targets = _windows(ids[:split], seq_len, samples, rng)
    val_tokens, val_targets = _windows(ids[split:], seq_len, val_samples, rng)
    return Task(name, len(chars), seq_len, train_tokens, train_targets, val_tokens, val_targets, chars)


def _windows(ids: np.ndarray, seq_len: int, count: int, rng: np.random.Generator):
    starts = rng.integers(0, len(ids) - seq_len, size=count)  # (count,)
    index = starts[:, None] + np.arange(seq_len + 1)  # (count, T+1)
    window = ids[index]
    return window[:, :-1], window[:, 1:]
