"""The probe: what the model makes of one sequence, everything the lab draws of it in one
report (engine/training/reports.py, ProbeReport): predictions, attention weights and scores,
the logit lens, and the embedding space."""

from __future__ import annotations

import numpy as np

from ..runtime.host import fetch
from ..training.reports import ProbeReport
from .embedding_space import pca_2d
from .readout import Analysis, analyze


def look(model, tokens, targets, knockout: tuple[int, int] | None = None, spaces: bool = True) -> ProbeReport:
    """tokens, targets (1, T) -> the model's ProbeReport of that sequence (knockout: a
    (layer, head) left out, 0-based). spaces: also project the embedding space (an SVD of
    the (V, C) embedding: the one part whose cost grows with the vocabulary)."""
    seen = analyze(model, tokens, knockout=knockout)
    return probe_report(model, seen, np.asarray(tokens)[0], np.asarray(targets)[0], knockout, spaces)


def probe_report(model, seen: Analysis, tokens, targets, knockout=None, spaces: bool = True) -> ProbeReport:
    """The ProbeReport of one sequence's Analysis (batch of one), its tokens and targets (T,)."""
    embedding = inputs = None
    if spaces:
        embed, pe = fetch(model.params["embed"], model.pe[: len(tokens)])  # (V, C), (T, C): one transfer
        embedding = pca_2d(embed)
        inputs = pca_2d(embed[tokens] + pe)  # (T, C): the first block's input
    return ProbeReport(
        tokens=tokens, targets=targets, probs=seen.probs[0], attention=seen.attention[:, 0],
        scores=seen.scores[:, 0], lens=seen.lens[:, 0], embedding=embedding, inputs=inputs, knockout=knockout,
    )  # fmt: skip
