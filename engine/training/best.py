"""The best epoch so far: the one with the lowest validation loss, the rule that --save's best
file and --patience follow, kept by the Trainer and saved in its checkpoint position.

    best = BestEpoch()
    best.update(epoch, step, val_loss)   True when this epoch is a new best (a finite loss below
                                         every earlier one); the Trainer calls it at each epoch's end
    best.since(epoch)                    epochs finished since the best one (all of them before one)

A run stops for patience N at the epoch where `since` reaches N (engine/training/trainer.py);
a resumed run carries its best on, so it writes its best file only when it beats it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class BestEpoch:
    """The epoch with the lowest validation loss so far (epoch 0: none yet)."""

    epoch: int = 0  # epochs done when it ended (1-based); 0 before the first finite validation loss
    step: int = 0  # optimizer steps done when it ended
    val_loss: float = math.inf

    def update(self, epoch: int, step: int, val_loss: float) -> bool:
        """Take a finished epoch into account; whether it is a new best. A loss that is not
        finite never is: the best is always a real epoch's."""
        if not (math.isfinite(val_loss) and val_loss < self.val_loss):
            return False
        self.epoch, self.step, self.val_loss = epoch, step, float(val_loss)
        return True

    def since(self, epoch: int) -> int:
        """Epochs finished after the best one, up to `epoch` (epochs done)."""
        return epoch - self.epoch

    def to_dict(self) -> dict:
        """Plain JSON-able data (the checkpoint position's "best"); no best yet: val_loss None."""
        loss = self.val_loss if math.isfinite(self.val_loss) else None
        return {"epoch": self.epoch, "step": self.step, "val_loss": loss}

    @classmethod
    def from_dict(cls, saved: dict | None) -> BestEpoch:
        """From to_dict's data (None, from a checkpoint older than best epochs: none yet).
        ValueError for data that is not a best epoch's."""
        if saved is None:
            return cls()
        epoch, step = int(saved["epoch"]), int(saved["step"])
        loss = math.inf if saved["val_loss"] is None else float(saved["val_loss"])
        if epoch < 0 or step < 0 or math.isnan(loss) or (epoch > 0) != math.isfinite(loss):
            raise ValueError(f"best epoch {epoch} at step {step} with val_loss {loss}")
        return cls(epoch, step, loss)
