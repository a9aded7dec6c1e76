"""What each attention head does: how spread its attention is (entropy), which named pattern
it follows, and what the model loses without it (knock-out).

Legend: L layers, H heads, N sequences, T positions. a is one head's attention weights
(N, T, T): row t is query position t, column j the key position it looks at.

    entropy   each row's -sum_j a_tj log2 a_tj, in bits, averaged over the query rows of
              every sequence. A causal model's row t can look at t+1 positions only, so its
              entropy is scaled by log2(T) / log2(t+1): uniform attention reads log2 T bits
              in every row, as in a non-causal model; row 0 has one choice and does not count.
    patterns  each a distribution over the keys for every query row (P below); a head's score
              is the attention weight it puts where the pattern does, sum_j min(a_tj, P_tj),
              averaged over the rows where the pattern can be followed (for a one-hot pattern:
              the mean weight on its cell). 1 is the pattern exactly, 0 none of it.
                self           P_tj = [j = t]
                previous       P_tj = [j = t-1]         (rows t >= 1)
                first          P_tj = [j = 0]
                anti-diagonal  P_tj = [j = T-1-t]       what reversing a sequence needs
                uniform        P_tj = 1/n_t             n_t: the keys row t can see
              Any row shares at least 1/n_t with the even spread, so the uniform score is
              rescaled, (overlap - 1/n_t) / (1 - 1/n_t): 1 for an even spread, 0 for all the
              weight on one key, as for the other patterns. A row that sees a single key (a
              causal model's row 0) has nothing to choose and counts for no pattern.
              The best score names the head's pattern when it is at least MIN_SCORE and
              MIN_MARGIN ahead of the next; otherwise the pattern is "mixed" (no single one).
    knock-out the head's output slice set to zero before its layer's output projection
              (TransformerEncoder.forward, knockout= or head_mask=); the loss and accuracy
              without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..runtime.backend import to_numpy
from ..runtime.memory import eval_batch_size
from ..training.evaluation import Tally

PATTERNS = ("self", "previous", "first", "anti-diagonal", "uniform")
MIXED = "mixed"  # no pattern explains the head: the best is weak, or not clearly ahead
MIN_SCORE, MIN_MARGIN = 0.5, 0.1


@lru_cache(maxsize=64)
def visible(T: int, causal: bool) -> np.ndarray:
    """(T, T) bool: the keys each query row can attend to (made once: read-only)."""
    seen = np.tril(np.ones((T, T), dtype=bool)) if causal else np.ones((T, T), dtype=bool)
    seen.flags.writeable = False
    return seen


@lru_cache(maxsize=256)
def pattern_table(name: str, T: int, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """The pattern as (T, T) weights P, and the (T,) rows where it can be followed (its
    weights sum to 1 over keys the row can see). Made once for each (name, T, causal): not
    to be written to."""
    seen = visible(T, causal)
    t = np.arange(T)
    if name == "uniform":
        P, rows = seen / seen.sum(axis=1, keepdims=True), np.ones(T, dtype=bool)
    else:
        key = {"self": t, "previous": t - 1, "first": np.zeros(T, int), "anti-diagonal": T - 1 - t}[name]
        rows = (key >= 0) & seen[t, np.clip(key, 0, T - 1)]
        P = np.zeros((T, T))
        P[t[rows], key[rows]] = 1.0
    P.flags.writeable = rows.flags.writeable = False
    return P, rows


def row_entropy_bits(a: np.ndarray) -> np.ndarray:
    """(..., T) entropy in bits of each row of a (..., T, T); 0 log 0 counts as 0."""
    a = np.asarray(a, dtype=np.float64)
    logs = np.log2(np.where(a > 0, a, 1.0))
    return -(a * logs).sum(axis=-1)


@dataclass
class HeadSums:
    """Running sums over query rows for one head, filled batch by batch."""

    entropy: float = 0.0
    entropy_rows: int = 0
    overlap: np.ndarray | None = None  # (patterns,) sum over rows of each row's score
    rows: np.ndarray | None = None  # (patterns,) rows counted

    def add(self, a: np.ndarray, causal: bool) -> None:
        """a (N, T, T): one head's attention weights for a batch of sequences."""
        N, T, _ = a.shape
        n = visible(T, causal).sum(axis=1)  # (T,) keys each row can see
        h = row_entropy_bits(a)  # (N, T)
        if causal:
            counts = n > 1  # row 0 has no choice
            h = h[:, counts] * (np.log2(T) / np.log2(n[counts]))
        self.entropy += float(h.sum())
        self.entropy_rows += h.size
        overlap, rows = np.zeros(len(PATTERNS)), np.zeros(len(PATTERNS))
        for i, name in enumerate(PATTERNS):
            P, ok = pattern_table(name, T, causal)
            ok = ok & (n > 1)  # a row with one key to see has nothing to choose
            score = np.minimum(a[:, ok], P[ok]).sum(axis=-1)  # (N, rows)
            if name == "uniform":
                score = (score - 1 / n[ok]) / (1 - 1 / n[ok])
            overlap[i], rows[i] = score.sum(), score.size
        self.overlap = overlap if self.overlap is None else self.overlap + overlap
        self.rows = rows if self.rows is None else self.rows + rows

    def entropy_bits(self) -> float:
        return self.entropy / self.entropy_rows if self.entropy_rows else float("nan")

    def scores(self) -> dict[str, float]:
        with np.errstate(invalid="ignore", divide="ignore"):
            return {name: float(s) for name, s in zip(PATTERNS, self.overlap / self.rows)}


def name_pattern(scores: dict[str, float]) -> tuple[str, float]:
    """(the pattern's name or MIXED, the best score)."""
    ranked = sorted(((s, name) for name, s in scores.items() if np.isfinite(s)), reverse=True)
    if not ranked:
        return MIXED, float("nan")
    best, name = ranked[0]
    second = ranked[1][0] if len(ranked) > 1 else 0.0
    clear = best >= MIN_SCORE and best - second >= MIN_MARGIN - 1e-12  # 0.8 - 0.7 is 0.0999...
    return (name if clear else MIXED), best


@dataclass(frozen=True)
class HeadStats:
    """One head: its attention and what the model does without it. layer and head 0-based."""

    layer: int
    head: int
    entropy_bits: float
    scores: dict[str, float]  # every pattern's score
    pattern: str  # the best-matching pattern, or MIXED
    pattern_score: float  # the best score
    val_loss: float  # with this head knocked out
    val_acc: float


@dataclass(frozen=True)
class HeadsReport:
    """Every head of a model, measured on `sequences` sequences."""

    heads: list[HeadStats]  # layer by layer, head by head
    base_val_loss: float  # the whole model
    base_val_acc: float
    sequences: int
    causal: bool

    def get(self, layer: int, head: int) -> HeadStats:
        return next(h for h in self.heads if h.layer == layer and h.head == head)

    def records(self) -> list[dict]:
        """One plain record per head, as `--inspect-heads --json` prints them (1-based)."""
        return [
            {"layer": h.layer + 1, "head": h.head + 1, "entropy_bits": h.entropy_bits, "pattern": h.pattern,
             "pattern_score": h.pattern_score, "val_loss": h.val_loss, "val_acc": h.val_acc,
             "base_val_loss": self.base_val_loss, "base_val_acc": self.base_val_acc}
            for h in self.heads
        ]  # fmt: skip


def measure_heads(model, tokens: np.ndarray, targets: np.ndarray, on_pass=None) -> HeadsReport:
    """Every head's entropy, patterns and knock-out effect on tokens, targets (N, T).

    A forward pass holds a batch several times over, once for each model it measures: the
    whole model (None) and the model without one head ((layer, head), a head mask per copy),
    as many copies as eval_batch_size(T) sequences allow: one pass where there would be one
    per head, and never more positions than an evaluation pass holds.
    on_pass(logits, cache, n, models, first), if given, sees every pass: copy k of its n
    sequences, rows k*n:(k+1)*n, is models[k]; first: the pass holds the first sequences."""
    cfg = model.cfg
    heads = [(layer, head) for layer in range(cfg.n_layers) for head in range(cfg.n_heads)]
    per_pass = eval_batch_size(tokens.shape[1])  # sequences, all copies together
    models: list = [None, *heads]
    groups = [models[j : j + per_pass] for j in range(0, len(models), per_pass)]  # ... per pass
    step = max(1, per_pass // len(groups[0]))
    sums = {lh: HeadSums() for lh in heads}
    tallies = {m: Tally(model.xp) for m in models}
    for i in range(0, len(tokens), step):
        for group in groups:
            batch, answers = tokens[i : i + step], targets[i : i + step]
            _measure_pass(model, batch, answers, group, sums, tallies, on_pass, first=i == 0)
    base_loss, base_acc = tallies[None].result()
    report = []
    for layer, head in heads:
        s = sums[(layer, head)]
        scores = s.scores()
        pattern, score = name_pattern(scores)
        loss, acc = tallies[(layer, head)].result()
        report.append(HeadStats(layer, head, s.entropy_bits(), scores, pattern, score, loss, acc))
    return HeadsReport(report, base_loss, base_acc, len(tokens), cfg.causal)


def _measure_pass(model, batch, answers, models: list, sums: dict, tallies: dict, on_pass, first: bool) -> None:
    """One forward pass of `batch` once for each of `models` (None: the whole model, or a
    (layer, head) knocked out): every copy's loss and accuracy, and the whole model's
    attention. Its activations are freed when it returns, before the next pass."""
    cfg, n = model.cfg, len(batch)
    mask = np.ones((cfg.n_layers, len(models) * n, cfg.n_heads), dtype=cfg.dtype)  # (L, copies*n, H)
    for k, knocked in enumerate(models):
        if knocked is not None:
            mask[knocked[0], k * n : (k + 1) * n, knocked[1]] = 0
    logits, cache = model.forward(np.tile(batch, (len(models), 1)), head_mask=model.xp.asarray(mask))
    for k, m in enumerate(models):
        tallies[m].add(logits[k * n : (k + 1) * n], answers)
    if models[0] is None:
        for layer, block in enumerate(cache.blocks):
            weights = to_numpy(block.attn.probs[:n])  # (n, H, T, T) the whole model's
            for head in range(cfg.n_heads):
                sums[(layer, head)].add(weights[:, head], cfg.causal)
    if on_pass is not None:
        on_pass(logits, cache, n, models, first)
