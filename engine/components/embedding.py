"""Token embedding: x = embed[tokens], a row lookup with a learnable table.

Legend: B batch, T sequence, C d_model, V vocabulary.
Backward scatters each position's gradient back to the row of the token it used; a token
used k times collects k gradients (backend.scatter_add_rows). Token ids are integers, not a
function of any parameter, so backward returns the table's gradient only, no dx.
"""

from __future__ import annotations

from typing import NamedTuple

from ..runtime.backend import scatter_add_rows


class EmbeddingCache(NamedTuple):
    tokens: object  # (B, T) int ids
    vocab_size: int


def check_tokens(tokens, vocab_size: int) -> None:
    """Raise ValueError naming the first id outside 0..vocab_size-1."""
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        bad = tokens[(tokens < 0) | (tokens >= vocab_size)].ravel()[0]
        raise ValueError(f"token {int(bad)} is outside the vocabulary 0..{vocab_size - 1}")


def forward(tokens, embed):
    """tokens (B, T) int, embed (V, C) -> x (B, T, C), cache."""
    check_tokens(tokens, embed.shape[0])
    return embed[tokens], EmbeddingCache(tokens, embed.shape[0])


def backward(dx, cache: EmbeddingCache):
    """dx (B, T, C) -> {"embed": (V, C)}; tokens get no gradient."""
    C = dx.shape[-1]
    dembed = scatter_add_rows(cache.tokens.reshape(-1), dx.reshape(-1, C), cache.vocab_size)
    return {"embed": dembed}
