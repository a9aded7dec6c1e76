"""Generation: what a causal model writes after a prompt, one token at a time.

    model, vocab = load_model("book.npz")             # the checkpoint alone: no data file needed
    ids = vocab.encode("The ")                          # (n,) int64; a toy task's model takes "3 1 4"
    for token in generate(model, ids, tokens=200, temperature=0.8, top_k=0, seed=0):
        print(vocab.decode([token]), end="", flush=True)

Legend: T sequence (T <= seq_len), V vocabulary.

Each step runs the model on the last seq_len tokens of the text so far (the prompt, then
everything written after it: the context slides once the text is longer than the model's
positional table), takes the logits at the last position, turns them into a distribution
(next_token_probs) and draws one token from it with a NumPy Generator made from the seed,
so the same seed writes the same text.

How nanoGPT samples, and where we differ. nanoGPT's `GPT.generate(idx, max_new_tokens,
temperature=1.0, top_k=None)` loops: crop `idx` to its last `block_size` tokens, run the
model, keep `logits[:, -1, :] / temperature`, and with top_k set every logit below the
k-th largest (`torch.topk`) to -inf; then softmax, one `torch.multinomial` draw, append,
repeat. Its sample.py reads a character model's vocabulary from a pickled meta.pkl (stoi,
itos), seeds torch with a fixed number and samples at temperature 0.8 with top_k 200. What
we keep: the crop to the last seq_len tokens, temperature as a divisor of the logits,
top-k as a cut before the softmax, one draw per step from a seeded generator. What we do
otherwise: temperature 0 is greedy (all mass on the argmax, ties to the lowest id) instead
of a division by zero; top-k keeps exactly k tokens (ties at the k-th logit go to the
lower ids) where nanoGPT keeps every token tied with the k-th; the distribution is
computed in float64 from logits minus their maximum, so a tiny temperature cannot
overflow; the vocabulary travels inside the checkpoint as a plain string (meta.json's
task.chars), never a pickle; and only a causal model may generate (see generate).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .model import TransformerEncoder
from .runtime.backend import to_numpy
from .training.checkpoint import CheckpointError
from .training.checkpoint import load as load_checkpoint
from .training.tasks import token_id

__all__ = ["Vocabulary", "generate", "load_model", "next_token_probs", "sample"]

NOT_CAUSAL = (
    "the model is not causal: in training every position saw the later positions, so it never "
    "learned to predict the next token from the past alone (train it with --causal)"
)


@dataclass(frozen=True)
class Vocabulary:
    """What the model's token ids stand for. A text model's token i is chars[i]; a model of a
    toy task (chars None) reads and writes its ids as numbers, "3 1 4"."""

    chars: str | None = None  # the text task's characters, in id order; None: the ids are the tokens
    size: int | None = None  # V; from chars when not given

    def __post_init__(self) -> None:
        if self.chars is not None:
            if not isinstance(self.chars, str) or len(set(self.chars)) != len(self.chars):
                raise ValueError("a vocabulary's chars must be a string of distinct characters")
            if self.size is None:
                object.__setattr__(self, "size", len(self.chars))
            if self.size != len(self.chars):
                raise ValueError(f"a vocabulary of {len(self.chars)} characters cannot have size {self.size}")
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"a vocabulary needs a size >= 1, got {self.size!r}")

    @classmethod
    def of_task(cls, task) -> Vocabulary:
        """The vocabulary of a Task (engine.training.tasks): its characters, or its ids."""
        return cls(task.chars, task.vocab_size)

    @property
    def separator(self) -> str:
        """What goes between two decoded tokens: nothing for characters, a space for ids."""
        return "" if self.chars is not None else " "

    def encode(self, text: str) -> np.ndarray:
        """Text -> token ids (n,) int64: its characters, or ids written as numbers ("3 1 4" or
        "3,1,4"). ValueError naming the characters (or the id) the vocabulary does not have."""
        if self.chars is not None:
            index = {c: i for i, c in enumerate(self.chars)}
            unknown = sorted(set(text) - index.keys())
            if unknown:
                shown = " ".join(repr(c) for c in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
                raise ValueError(f"not in the model's vocabulary: {shown}")
            return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
        ids = [token_id(word) for word in text.replace(",", " ").split()]
        for i in ids:
            if not 0 <= i < self.size:
                raise ValueError(f"token {i} is outside the model's vocabulary 0..{self.size - 1}")
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text: the characters joined, or the ids joined by spaces."""
        ids = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]
        for i in ids:
            if not 0 <= i < self.size:
                raise ValueError(f"token {i} is outside the vocabulary 0..{self.size - 1}")
        if self.chars is not None:
            return "".join(self.chars[i] for i in ids)
        return " ".join(str(i) for i in ids)


def load_model(path: str | os.PathLike) -> tuple[TransformerEncoder, Vocabulary]:
    """A checkpoint -> its model (on the CPU) and its vocabulary; CheckpointError names the
    file and the fault. Needs no data file: a text model's characters are in the checkpoint."""
    ckpt = load_checkpoint(path)
    cfg = ckpt.model_cfg
    chars = ckpt.task.get("chars")
    if chars is not None and (not isinstance(chars, str) or len(chars) != cfg.vocab_size):
        raise CheckpointError(
            f"{ckpt.path}: its vocabulary (task.chars) does not fit a model of {cfg.vocab_size} tokens"
        )
    try:
        vocab = Vocabulary(chars, cfg.vocab_size)
    except ValueError as err:
        raise CheckpointError(f"{ckpt.path}: its vocabulary (task.chars) is corrupt ({err})") from None
    return TransformerEncoder(cfg, params=ckpt.params), vocab


def next_token_probs(logits, temperature: float = 1.0, top_k: int = 0) -> np.ndarray:
    """logits (V,) -> the distribution (V,) float64 the next token is drawn from.

    temperature T > 0: softmax(logits / T) over the top_k largest logits (0: all of them),
    0 elsewhere; T < 1 sharpens, T > 1 flattens. T = 0: greedy, all mass on the argmax (ties
    to the lowest id). Exactly top_k tokens are kept; ties at the k-th go to the lower ids."""
    z = np.asarray(to_numpy(logits), dtype=np.float64)  # (V,)
    if z.ndim != 1 or z.size == 0:
        raise ValueError(f"logits must be one row (V,), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("the logits hold values that are not finite")
    V = z.size
    check_sampling(temperature, top_k, V)
    probs = np.zeros(V)  # (V,)
    if temperature == 0:
        probs[np.argmax(z)] = 1.0  # argmax: the first of equal maxima, the lowest id
        return probs
    keep = np.arange(V) if top_k in (0, V) else np.argsort(-z, kind="stable")[:top_k]  # (k,)
    scaled = (z[keep] - z[keep].max()) / temperature  # (k,) <= 0: exp cannot overflow
    e = np.exp(scaled)  # (k,), the largest is 1
    probs[keep] = e / e.sum()
    return probs


def check_sampling(temperature: float, top_k: int, vocab_size: int) -> None:
    """ValueError unless 0 <= temperature < inf and top_k is a whole number in 0..vocab_size."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)):
        raise ValueError(f"temperature must be a number, got {temperature!r}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0 (0: greedy), got {temperature}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise ValueError(f"top_k must be a whole number, got {top_k!r}")
    if not 0 <= top_k <= vocab_size:
        raise ValueError(f"top_k must be in 0..{vocab_size} (the vocabulary's size; 0: all), got {top_k}")


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    """One token id drawn from probs (V,) with rng: id i with probability probs[i]."""
    return int(rng.choice(probs.size, p=probs))


def generate(
    model: TransformerEncoder,
    prompt_ids,
    tokens: int = 200,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int | None = 0,
) -> Iterator[int]:
    """Yield `tokens` new token ids after prompt_ids (n,), each as soon as it is drawn.

    Each step runs the model on the last seq_len tokens of the prompt and what was written
    after it, and draws from next_token_probs of the last position's logits with a NumPy
    Generator seeded with `seed`: the same seed, the same tokens. ValueError, at the call and
    not at the first token, for a model that is not causal, an empty prompt or one with ids
    outside the vocabulary, tokens < 0, temperature < 0 and top_k outside 0..V."""
    cfg = model.cfg
    if not cfg.causal:
        raise ValueError(NOT_CAUSAL)
    prompt = np.asarray(prompt_ids)
    if prompt.ndim != 1 or (prompt.size and prompt.dtype.kind not in "iu"):
        raise ValueError(f"the prompt must be a row of token ids (n,), got {prompt.dtype} {prompt.shape}")
    if prompt.size == 0:
        raise ValueError("the prompt is empty: give at least one token")
    if prompt.min() < 0 or prompt.max() >= cfg.vocab_size:
        raise ValueError(f"the prompt holds ids outside the vocabulary 0..{cfg.vocab_size - 1}")
    if isinstance(tokens, bool) or not isinstance(tokens, (int, np.integer)) or tokens < 0:
        raise ValueError(f"tokens must be a whole number >= 0, got {tokens!r}")
    check_sampling(temperature, top_k, cfg.vocab_size)
    return _tokens(model, [int(i) for i in prompt], int(tokens), temperature, top_k, np.random.default_rng(seed))


def _tokens(model: TransformerEncoder, text: list[int], tokens: int, temperature: float, top_k: int,
            rng: np.random.Generator) -> Iterator[int]:  # fmt: skip
    T = model.cfg.seq_len
    for _ in range(tokens):
        window = np.asarray([text[-T:]], dtype=np.int64)  # (1, T'), T' <= seq_len: the context slides
        logits, _ = model.forward(window)  # (1, T', V)
        token = sample(next_token_probs(logits[0, -1], temperature, top_k), rng)
        text.append(token)
        yield token
