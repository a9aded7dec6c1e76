"""--save's best file: the checkpoint of the epoch with the lowest validation loss so far (the
Trainer says which: EpochReport.new_best), kept beside --save under files.best_path's name.

Written atomically (engine/training/checkpoint.py write_atomic) and only at a new best, so
it always holds a real, finite epoch's parameters: a run that diverges later leaves it as it
was. The lab writes it in threads while training goes on: the newest epoch wins when two
writes overlap, and after the first failure no more are tried (it is said once).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.training.checkpoint import CheckpointError, contents, write_atomic

from .files import best_path
from .numbers import loss_text, plural


def patience_story(trainer) -> str:
    """Why a run stopped for --patience: 'no new best val_loss for 3 epochs (--patience 3); the
    best was epoch 5 (val_loss 1.2345)'."""
    best, epoch, patience = trainer.best, trainer.epoch, trainer.train_cfg.patience
    return (f"no new best val_loss for {plural(best.since(epoch), 'epoch')} (--patience {patience}); "
            f"the best was epoch {best.epoch} (val_loss {loss_text(best.val_loss)})")  # fmt: skip


def out_of_patience(trainer) -> bool:
    """A run (from a checkpoint) that has stopped for --patience already: N epochs or more since
    its best. --headless does not train it again; the lab says so and trains on when asked
    (then it pauses at the next run-out: N epochs after a new best)."""
    patience, best = trainer.train_cfg.patience, trainer.best
    return patience > 0 and best.epoch > 0 and best.since(trainer.epoch) >= patience


class BestFile:
    """Where a run keeps its best epoch, and which epoch this run has written there."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.failed: str | None = None  # why a write failed: no more are tried
        self._lock = threading.Lock()  # one write at a time
        self._newest: tuple[int, int] | None = None  # (generation, epoch) of the newest write

    @classmethod
    def beside(cls, save: str | None) -> BestFile | None:
        """The best file of --save FILE; None without --save."""
        return cls(best_path(save)) if save else None

    def write(self, arrays: dict[str, np.ndarray], key: tuple[int, int]) -> None:
        """Write `arrays` (checkpoint.contents at a new best) for `key` (generation, epoch),
        unless a newer key's were written already or a write failed before. CheckpointError
        when the write fails."""
        with self._lock:
            if self.failed is not None or (self._newest is not None and key <= self._newest):
                return
            try:
                write_atomic(Path(self.path), arrays)
            except CheckpointError as err:
                self.failed = str(err)
                raise
            self._newest = key

    def holds(self, epoch: int) -> bool:
        """Whether this run wrote `epoch` to the file (and nothing newer)."""
        return self._newest is not None and self._newest[1] == epoch

    def write_later(self, trainer, key: tuple[int, int], post: Callable) -> threading.Thread:
        """The lab's way: the trainer's checkpoint as it is now (the caller holds the lock that
        keeps it still), written in a thread of its own that is returned, started."""
        thread = threading.Thread(target=self.write_or_say, args=(contents(trainer), key, post), daemon=True)
        thread.start()
        return thread

    def write_or_say(self, arrays: dict[str, np.ndarray], key: tuple[int, int], post: Callable) -> None:
        """write(), for the lab's threads: the first failure is posted as a Saved message with
        its error (and no write is tried after it)."""
        from .messages import Saved  # the lab's: --headless never loads Textual

        try:
            self.write(arrays, key)
        except Exception as err:  # said in the lab, never lost in the thread
            self.failed = self.failed or f"{type(err).__name__}: {err}"
            post(Saved(self.path, 0, f"{self.failed}; the best epoch is no longer kept"))
