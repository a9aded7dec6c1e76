"""What the command line builds and every mode runs from: the Setup, the program's name and
the lab's default checkpoint name. Its own module, so the modes and the command line
import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass

from engine.training.checkpoint import Checkpoint
from engine.training.trainer import Trainer

from .files import same_file, unused_path
from .metrics import MetricsLog, header_record

PROG = "tfnp-tui"
DEFAULT_SAVE = "tfnp-checkpoint.npz"


@dataclass
class Setup:
    """Everything a run needs, built from the flags."""

    trainer: Trainer
    save: str | None
    metrics_out: str | None
    loaded: Checkpoint | None
    compare: tuple = ()  # --compare: the runs (tfnp_tui/runs.py Run) the lab draws beside this one

    def metrics_log(self) -> MetricsLog | None:
        """--metrics-out's log: a run that goes on from a checkpoint continues the file from
        the checkpoint's epoch. MetricsError if the file cannot be read or cut there."""
        if self.metrics_out is None:
            return None
        resumed = self.loaded is not None and self.trainer.step_count > 0
        epoch = self.loaded.position.get("epoch", self.trainer.epoch) if resumed else None  # as saved
        return MetricsLog(self.metrics_out, header_record(self.trainer), epoch)

    def lab_save_path(self) -> str:
        """Where the lab's w key writes: --save, else the default name unless a file of
        another run is there (then the first free name beside it: nothing is replaced)."""
        if self.save:
            return self.save
        loaded = self.loaded.path if self.loaded else None
        return DEFAULT_SAVE if same_file(DEFAULT_SAVE, loaded) else unused_path(DEFAULT_SAVE)
