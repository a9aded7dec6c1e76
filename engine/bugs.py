"""Classic backprop bugs, planted in the engine for the length of a gradient check.

Each bug is a small replacement for one function of a backward pass, written with the
mistake in it (or, where the function is long, a wrapper that makes the same mistake).
BUGS maps a kebab-case name to a Bug: a one-line description, the patches, and when the
bug can go unseen. `planted(name)` sets the patches (module attributes such as
engine.components.attention.softmax_backward, or TransformerEncoder's block backward
passes) and puts the originals back in a `finally`, so the engine is clean again after the
`with` block, also when it raises. Nothing in engine/components or engine/model.py knows
about this module.

    with planted("softmax-no-rowsum"):
        report = check_model(model, tokens, targets)   # expected to fail

A patch changes the engine for the whole process, not just the thread that planted it, so
every use goes through ENGINE: a planted bug has the engine alone (two checks never
overlap), and code that needs it clean waits for a bug to be taken out and keeps bugs out
while it works: a clean check (`planted(None)`) and each of the lab's training steps
(`kept_clean`, tfnp_tui/session.py), so no step runs on a broken backward pass. Clean users
share the engine: a clean check does not hold training up (unless a bug is waiting behind
it: a waiting bug goes first). Only backward passes are patched: forward passes (probes,
evaluation) run as they are.

docs/backprop.md ("Bugs to catch") says which tensors each bug breaks, and why.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import NamedTuple

from .components import attention, embedding, feedforward, layernorm, loss
from .components import dropout as drop
from .model import TransformerEncoder, _put
from .runtime.backend import array_module


class Bug(NamedTuple):
    """One bug: what it gets wrong, and how it is planted."""

    line: str  # what is wrong, in one line
    patches: tuple[tuple[object, str, object], ...]  # (owner, attribute, replacement) while planted
    shows_only_when: str = ""  # what a model and its data need for the bug to change a gradient at all


# the real functions, captured before any patch: the wrappers below call them
_attention_backward = attention.backward
_layernorm_backward = layernorm.backward
_loss_backward = loss.backward


def softmax_backward_no_rowsum(dprobs, probs):
    """dscores = probs * dprobs: the row sum that the softmax's normalisation feeds back is gone."""
    dprobs *= probs  # right: probs * (dprobs - rowsum(dprobs * probs))
    return dprobs


def layernorm_backward_no_mean(dy, cache: layernorm.LayerNormCache):
    """dx = rstd * (g - xhat * mean(g * xhat)): the mean(g) term of the centring is gone."""
    _, grads = _layernorm_backward(dy, cache)  # gamma and beta are still right
    g = dy * cache.gamma  # (B, T, C)
    dx = cache.rstd * (g - cache.xhat * (g * cache.xhat).mean(axis=-1, keepdims=True))  # no - g.mean(-1)
    return dx, grads


def attention_backward_no_scale(dy, cache: attention.AttentionCache):
    """dq = dscores @ k, without the 1/sqrt(D) the scores were scaled by. The real backward
    uses the cached k only for dq = dscores @ (k / sqrt(D)), so it is handed k * sqrt(D)."""
    D = cache.q.shape[-1]
    return _attention_backward(dy, cache._replace(k=cache.k * math.sqrt(D)))


def embedding_backward_overwrite(dx, cache: embedding.EmbeddingCache):
    """dembed[tokens] = dx: a token used twice keeps only the gradient of its last use."""
    xp = array_module(dx)
    C = dx.shape[-1]
    dembed = xp.zeros((cache.vocab_size, C), dtype=dx.dtype)  # (V, C)
    dembed[cache.tokens.reshape(-1)] = dx.reshape(-1, C)  # right: their sum (scatter_add_rows)
    return {"embed": dembed}


def loss_backward_not_averaged(dloss, cache: loss.CrossEntropyCache):
    """dlogits = p - onehot(y): the loss is a mean over n positions, its gradient left a sum."""
    return _loss_backward(dloss * cache.n, cache)  # the same as leaving out the / n


def block_backward_post_no_skip(dx, c, grads: dict, p: str):
    """_block_backward_post with the FFN's skip path left out: dr does not reach x."""
    dr, g = layernorm.backward(dx, c.ln2)  # r = x + drop(ffn(x))
    _put(grads, p + "ln2.", g)
    dx, g = feedforward.backward(drop.backward(dr, c.drop.ffn_out), c.ffn)
    _put(grads, p + "ffn.", g)
    # missing: dx += dr
    dr, g = layernorm.backward(dx, c.ln1)  # r = x + drop(attn(x))
    _put(grads, p + "ln1.", g)
    dx, g = attention.backward(drop.backward(dr, c.drop.attn_out), c.attn)
    _put(grads, p + "attn.", g)
    dx += dr
    return dx


def block_backward_pre_no_skip(dx, c, grads: dict, p: str):
    """_block_backward_pre with the FFN's skip path left out: dx does not pass x + ffn(LN2(x))."""
    dh, g = feedforward.backward(drop.backward(dx, c.drop.ffn_out), c.ffn)  # x = x + drop(ffn(LN2(x)))
    _put(grads, p + "ffn.", g)
    dh, g = layernorm.backward(dh, c.ln2)
    _put(grads, p + "ln2.", g)
    dx = dh  # right: dx + dh
    dh, g = attention.backward(drop.backward(dx, c.drop.attn_out), c.attn)  # x = x + drop(attn(LN1(x)))
    _put(grads, p + "attn.", g)
    dh, g = layernorm.backward(dh, c.ln1)
    _put(grads, p + "ln1.", g)
    return dx + dh


BUGS: dict[str, Bug] = {
    "softmax-no-rowsum": Bug(
        "attention's softmax backward is dscores = probs * dprobs, without the row-sum term",
        ((attention, "softmax_backward", softmax_backward_no_rowsum),),
    ),
    "layernorm-no-mean": Bug(
        "LayerNorm's dx = rstd * (g - xhat * mean(g * xhat)) leaves out - mean(g)",
        ((layernorm, "backward", layernorm_backward_no_mean),),
    ),
    "attention-no-scale": Bug(
        "attention's dq = dscores @ k leaves out the 1/sqrt(D) the scores were scaled by",
        ((attention, "backward", attention_backward_no_scale),),
        "the heads are wider than one (D > 1; 1/sqrt(1) is 1) and a query sees more than one key",
    ),
    "embedding-overwrite": Bug(
        "the embedding's backward writes dembed[tokens] = dx instead of adding them up",
        ((embedding, "backward", embedding_backward_overwrite),),
        "a token is used twice in the checked sequences",
    ),
    "residual-dropped": Bug(
        "each block's backward leaves out the gradient of the feed-forward sublayer's skip path",
        (
            (TransformerEncoder, "_block_backward_post", staticmethod(block_backward_post_no_skip)),
            (TransformerEncoder, "_block_backward_pre", staticmethod(block_backward_pre_no_skip)),
        ),
    ),
    "loss-not-averaged": Bug(
        "the cross-entropy gradient is p - onehot(y), not divided by the n positions the loss averages",
        ((loss, "backward", loss_backward_not_averaged),),
        "more than one position counts (n > 1)",
    ),
}


class EngineUse:
    """Who relies on the engine: a planted bug has it alone; any number of users that need it
    clean (training steps, clean checks) share it, and no bug is planted while one of them
    is at work. A bug waiting to be planted goes before users that come after it. Not
    re-entrant: a thread never nests these blocks (one inside the other would wait on itself)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.bug_in = False
        self.bugs_waiting = 0
        self.clean_users = 0

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Wait until nobody relies on the engine, and keep it to oneself (to plant a bug)."""
        with self.changed:
            self.bugs_waiting += 1
            try:
                self.changed.wait_for(lambda: not self.bug_in and self.clean_users == 0)
            finally:  # also when the wait is interrupted (Ctrl+C)
                self.bugs_waiting -= 1
            self.bug_in = True
        try:
            yield
        finally:
            with self.changed:
                self.bug_in = False
                self.changed.notify_all()

    @contextmanager
    def clean(self, seconds: float | None = None) -> Iterator[bool]:
        """Wait (up to `seconds`; None: as long as it takes) until no bug is planted or
        waiting; inside the block, True when so (and no bug can be planted until it ends),
        False when the wait ran out."""
        with self.changed:
            clean = self.changed.wait_for(lambda: not self.bug_in and not self.bugs_waiting, timeout=seconds)
            self.clean_users += clean
        try:
            yield clean
        finally:
            if clean:
                with self.changed:
                    self.clean_users -= 1
                    self.changed.notify_all()


ENGINE = EngineUse()  # the patches are process-wide: every planter and every clean user goes through it


def kept_clean(seconds: float) -> AbstractContextManager[bool]:
    """Wait up to `seconds` for the engine to be clean. Inside the block: True when it is (and
    no bug can be planted until the block ends), False when a bug stayed planted, or waiting
    to be, all that time. For a loop that must stay stoppable while it waits (the lab's
    training thread)."""
    return ENGINE.clean(seconds)


def unknown(name: str) -> str:
    """The one-line complaint about a name that is not in BUGS."""
    return f"unknown bug {name!r} (--inject list names them)"


@contextmanager
def planted(name: str | None) -> Iterator[Bug | None]:
    """Plant the bug `name` (a key of BUGS) in the engine inside the `with` block, once no one
    relies on it being clean; None plants nothing but waits for any other thread's bug to be
    taken out (and keeps bugs out meanwhile). KeyError for an unknown name, before anything
    is patched."""
    if name is not None and name not in BUGS:
        raise KeyError(unknown(name))
    if name is None:
        with ENGINE.clean():
            yield None
        return
    bug = BUGS[name]
    with ENGINE.alone():
        originals = []
        try:
            for owner, attribute, replacement in bug.patches:
                originals.append((owner, attribute, vars(owner)[attribute]))
                setattr(owner, attribute, replacement)
            yield bug
        finally:
            for owner, attribute, original in reversed(originals):
                setattr(owner, attribute, original)


def effect(name: str, report) -> str:
    """What a check (an engine.gradcheck.GradcheckReport) run with the bug `name` planted
    shows, in one line: which tensors it breaks and how badly, or, when it breaks none, that
    it went unseen here and what it needs to show."""
    failed = [t for t in report.tensors if not t.passed]
    if not failed:
        when = BUGS[name].shows_only_when
        needs = f" (it shows only when {when})" if when else ""
        return f"the planted bug breaks none of the {len(report.tensors)} tensors on this model and data{needs}"
    names = [t.name for t in failed]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    worst = max(failed, key=lambda t: t.max_rel_error)
    return (
        f"the planted bug breaks {len(failed)} of {len(report.tensors)} tensors: {shown} "
        f"(worst {worst.max_rel_error:.1e}, {worst.name})"
    )
