"""Batches: which training sequences, and which dropout masks, each optimizer step gets.

Each epoch visits the training set in a fresh order, drawn from (seed, epoch), so a run is a
pure function of its configs (bit-identical losses on the same machine) and a checkpoint
needs no random state to resume exactly; dropout's masks (TrainConfig.dropout, training steps
only) are drawn from (seed, step) the same way. The task's sequences go to the model's device
once, checked once on the host; each epoch's order goes there once.
"""

from __future__ import annotations

import math

import numpy as np

from ..components.dropout import Dropout
from ..config import TrainConfig
from .evaluation import checked_on_device
from .tasks import Task

DROPOUT_STREAM = 0x64726F70  # "drop": the middle word of the dropout Generators' seeds, apart from shuffling's


class Batches:
    """batches = Batches(train_cfg, task, model)
    tokens, targets = batches.batch(step)   # (B, T) each, on the model's device
    source = batches.dropout(step)          # that step's dropout masks, or None"""

    def __init__(self, train_cfg: TrainConfig, task: Task, model) -> None:
        self.cfg, self.xp = train_cfg, model.xp
        self.steps_per_epoch = math.ceil(len(task.train_tokens) / train_cfg.batch_size)
        self.tokens, self.targets = checked_on_device(model, task.train_tokens, task.train_targets)
        self._order_epoch = -1
        self._order = None  # this epoch's order of the training sequences, on the device

    def batch(self, step: int):
        """The (tokens, targets) of 0-based optimizer step `step`, each (B, T), on the model's device."""
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._order_epoch:
            rng = np.random.default_rng([self.cfg.seed, epoch])
            self._order = self.xp.asarray(rng.permutation(len(self.tokens)))
            self._order_epoch = epoch
        bs = self.cfg.batch_size
        rows = self._order[i * bs : (i + 1) * bs]
        return self.tokens[rows], self.targets[rows]

    def dropout(self, step: int) -> Dropout | None:
        """The dropout masks of 0-based optimizer step `step` (None when TrainConfig.dropout
        is 0): drawn from a Generator seeded from (seed, step), a stream apart from the
        shuffling's, so a run and a resumed run draw the same masks at every step."""
        p = self.cfg.dropout
        if p == 0:
            return None
        return Dropout(p, np.random.default_rng([self.cfg.seed, DROPOUT_STREAM, step]))
