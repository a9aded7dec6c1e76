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
    ws: object = None  # the Workspace backward takes its arrays from; None: fresh ones


def check_tokens(tokens, vocab_size: int) -> None:
    """Raise ValueError naming the first id outside 0..vocab_size-1."""
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        bad = tokens[(tokens < 0) | (tokens >= vocab_size)].ravel()[0]
        raise ValueError(f"token {int(bad)} is outside the vocabulary 0..{vocab_size - 1}")


def forward(tokens, embed, validate: bool = True, ws=None):
    """tokens (B, T) int, embed (V, C) -> x (B, T, C), cache. validate False skips the check
    of the ids (a transfer to the host on a GPU), for tokens checked once by the caller.
    ws: the training pass's Workspace, or None (components/__init__.py)."""
    if validate:
        check_tokens(tokens, embed.shape[0])
    if ws is None:
        x = embed[tokens]  # (B, T, C)
    else:  # a workspace is NumPy's: embed[tokens] written into it ("wrap" does that directly, "raise" copies first)
        x = embed.take(tokens, axis=0, mode="wrap", out=ws.empty((*tokens.shape, embed.shape[1]), embed.dtype))
    return x, EmbeddingCache(tokens, embed.shape[0], ws)


def backward(dx, cache: EmbeddingCache):
    """dx (B, T, C) -> {"embed": (V, C)}; tokens get no gradient."""
    C = dx.shape[-1]
    dembed = scatter_add_rows(cache.tokens.reshape(-1), dx.reshape(-1, C), cache.vocab_size, cache.ws)
    return {"embed": dembed}
