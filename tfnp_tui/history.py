"""The lab's bounded record of epoch reports, so a learner can replay how the model learned."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque

from engine.analysis.inside import keeps_knocked, knocked_bytes, probe_bytes
from engine.model import TransformerEncoder
from engine.training.reports import EpochReport

BUDGET_BYTES = 256 * 2**20  # memory the history may take


def capacity_for(model: TransformerEncoder, budget_bytes: int = BUDGET_BYTES) -> int:
    """How many epochs fit in the budget: each holds the probe (attention weights and scores,
    probabilities after each layer, the embedding space), two numbers per tensor, and the
    look inside (the probe without each head, when kept); between 20 and 2000 epochs."""
    cfg = model.cfg
    knocked = knocked_bytes(cfg) if keeps_knocked(cfg) else 0
    per_epoch = probe_bytes(cfg) + knocked + 8 * 2 * len(model.params) + 256 * cfg.n_layers * cfg.n_heads + 2048
    return max(20, min(2000, budget_bytes // per_epoch))


class History:
    """The last `capacity` epoch reports, oldest first."""

    def __init__(self, capacity: int) -> None:
        self.reports: deque[EpochReport] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self.reports)

    def extend(self, reports: list[EpochReport]) -> None:
        self.reports.extend(reports)

    def clear(self) -> None:
        self.reports.clear()

    @property
    def last_epoch(self) -> int | None:
        return self.reports[-1].epoch if self.reports else None

    def get(self, epoch: int) -> EpochReport | None:
        for report in self.reports:
            if report.epoch == epoch:
                return report
        return None

    def neighbour(self, epoch: int | None, delta: int) -> int | None:
        """The recorded epoch `delta` places from `epoch` (None = live, after the last);
        None when that walks past the newest (back to live)."""
        epochs = [r.epoch for r in self.reports]
        if not epochs:
            return None
        index = len(epochs) if epoch is None else bisect_left(epochs, epoch)
        index = max(0, index + delta)
        return None if index >= len(epochs) else epochs[index]
