"""Trainer: owns the model, the task, the optimizer and the schedule, and takes steps.

    report = trainer.step()          one optimizer step on one batch -> StepReport
    trainer.step(report=False)       the same, bringing nothing back from a GPU (None, or the
                                     StepReport of a step that ends an epoch)
    reports = trainer.reports()      the StepReports of those steps, in one transfer
    report = trainer.run_epoch()     steps to the end of the current epoch -> EpochReport

Batches (batches.py): each epoch visits the training set in a fresh order, drawn from
(seed, epoch), and dropout's masks are drawn from (seed, step), so a run is a pure function
of its configs and a checkpoint needs no random state to resume exactly. A step whose loss,
gradient or update is not finite raises TrainingDiverged and updates nothing: the
parameters stay those of the last good step. On the CPU it is refused at once; on a GPU the refusal is
decided on the device and told at the next report (figures.py), the trainer set back to
the step before it.

lr_scale multiplies the schedule's rate from the next step on (the lab's - and + keys); at
each epoch's end the best epoch (engine/training/best.py) takes the validation loss, and the
EpochReport says whether it is a new best and whether --patience ran out. Both travel in
the checkpoint position, so a resumed run goes on with them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque

import numpy as np

from ..analysis.probe import look
from ..components.dropout import Dropout
from ..config import ModelConfig, TrainConfig
from ..model import TransformerEncoder
from .batches import Batches
from .best import BestEpoch
from .evaluation import checked_on_device, evaluate, evaluate_checked, right_and_counted
from .figures import EpochTotals, Pending, Row, global_norm, problem, step_vector
from .optim import clip_gradients, learning_rate, make_optimizer, step_if
from .reports import EpochReport, ProbeReport, StepReport
from .tasks import Task, make_task

LR_SCALE_LIMITS = (2.0**-10, 2.0**10)  # the factor on the schedule's rate: 1/1024 to 1024


class TrainingDiverged(RuntimeError):
    """A step produced a non-finite loss, gradient or update; nothing was updated.

    str() is the whole story; `step` (the refused step) and `what` (which figure was not
    finite) let a narrow screen say it in a few words."""

    def __init__(self, message: str, step: int = 0, what: str = "") -> None:
        super().__init__(message)
        self.step, self.what = step, what


class Trainer:
    """Trains a TransformerEncoder on a task, one step at a time."""

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, task: Task | None = None,
                 model: TransformerEncoder | None = None) -> None:  # fmt: skip
        if model is not None and model.cfg != model_cfg:
            raise ValueError(f"the model passed in has another config than {model_cfg}")
        self.train_cfg = train_cfg
        self.task = task or make_task(train_cfg, model_cfg.vocab_size, model_cfg.seq_len)
        if self.task.vocab_size != model_cfg.vocab_size:
            raise ValueError(
                f"vocab_size: the {self.task.name} task has {self.task.vocab_size} tokens, "
                f"the model {model_cfg.vocab_size}"
            )
        if self.task.needs_causal and not model_cfg.causal:
            raise ValueError(
                f"causal: the {self.task.name} task needs a causal model, or it reads the answer off its input"
            )
        self.model = model or TransformerEncoder(model_cfg, seed=train_cfg.seed, device=train_cfg.device)
        self.xp = self.model.xp
        self.optimizer = make_optimizer(
            train_cfg.optimizer, train_cfg.momentum, train_cfg.beta1, train_cfg.beta2,
            train_cfg.eps, train_cfg.weight_decay, layout=self.model.layout,
        )  # fmt: skip
        self._grad = self.xp.empty(self.model.layout.size, dtype=self.model.cfg.dtype)  # the flat gradient
        self.batches = Batches(train_cfg, self.task, self.model)  # the task's sequences on the device, checked
        self.steps_per_epoch = self.batches.steps_per_epoch
        # the validation set, checked and copied once for every epoch's end
        self._val = checked_on_device(self.model, self.task.val_tokens, self.task.val_targets)
        self.total_steps = self.steps_per_epoch * train_cfg.epochs
        self.step_count = 0  # optimizer steps done
        self.seconds = 0.0  # time spent inside step()
        self._totals = EpochTotals()  # this epoch so far
        self._lr_scale = 1.0
        self.best = BestEpoch()  # the epoch with the lowest validation loss so far
        self._on_host = self.xp is np  # NumPy: a step's figures need no transfer, refusals are decided at once
        self._pending = Pending()  # the figures of the steps not yet fetched from the device (figures.py)
        self._ok = None  # on a device: 0-d bool, False once a pending step was refused; None: all fetched
        self._unreturned: deque[Row] = deque(maxlen=self.steps_per_epoch)  # fetched, not yet reported

    @property
    def lr_scale(self) -> float:
        """The factor on the schedule's learning rate from the next step on (the lab's keys
        change it; checkpoints keep it). ValueError outside LR_SCALE_LIMITS."""
        return self._lr_scale

    @lr_scale.setter
    def lr_scale(self, scale: float) -> None:
        low, high = LR_SCALE_LIMITS
        if not low <= scale <= high:  # also refuses nan
            raise ValueError(f"lr_scale must be between 1/{1 / low:g} and {high:g}, got {scale}")
        self._lr_scale = float(scale)

    def next_lr(self, scale: float | None = None) -> float:
        """The learning rate the next step will use: the schedule's, times lr_scale (or `scale`)."""
        cfg = self.train_cfg
        scale = self.lr_scale if scale is None else scale
        return learning_rate(self.step_count, cfg.lr, cfg.schedule, cfg.warmup, self.total_steps) * scale

    @property
    def model_cfg(self) -> ModelConfig:
        return self.model.cfg

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return self.step_count // self.steps_per_epoch

    @property
    def finished(self) -> bool:
        """True once the configured number of epochs is done (step() still works after)."""
        return self.step_count >= self.total_steps

    # ------------------------------------------------------------------------------ steps
    def batch(self, step: int):
        """The (tokens, targets) of 0-based optimizer step `step`, each (B, T), on the model's device."""
        return self.batches.batch(step)

    def dropout(self, step: int) -> Dropout | None:
        """The dropout masks of 0-based optimizer step `step`, or None (batches.py)."""
        return self.batches.dropout(step)

    @np.errstate(over="ignore", invalid="ignore", divide="ignore")  # inf and nan are refused below, not warned
    def step(self, report: bool = True) -> StepReport | None:
        """One optimizer step on the next batch -> its StepReport.

        report False: on a GPU nothing comes to the host (figures.py); returns None, or the
        StepReport when the step ends an epoch. reports() gives the reports of such steps.
        TrainingDiverged for a step that was not finite; on a GPU it may come a few steps
        late (at the next report), with the trainer set back to the step before it."""
        start = time.perf_counter()
        cfg, model, xp = self.train_cfg, self.model, self.xp
        tokens, targets = self.batch(self.step_count)
        # (P,) every gradient, end to end: on the CPU written there by the backward pass as it goes
        # (its arrays are free again at once); on a GPU gathered in one concatenation, one kernel
        grad_out = self._grad if self._on_host else None
        loss, grads, logits = model.forward_backward(tokens, targets, self.dropout(self.step_count), grad_out=grad_out)
        g = self._grad if self._on_host else model.layout.flatten(grads, out=self._grad)
        grad_sq = model.layout.sums(g * g)  # (tensors,) squared norms, before clipping
        right, counted = right_and_counted(xp, logits, targets)  # 0-d each
        scale = self.lr_scale  # read once: the lab's keys set it from another thread, without the lock
        lr = self.next_lr(scale)
        if cfg.clip > 0:
            clip_gradients(g, global_norm(xp, grad_sq), cfg.clip)
        u = self.optimizer.updates(model.flat, g, lr)  # (P,) the parameters and the state untouched yet
        update_sq = model.layout.sums(u * u)  # (tensors,)
        vector = step_vector(xp, loss, right, counted, grad_sq, update_sq)  # (3 + 2k,)
        if self._on_host:  # the figures are here already: refuse at once, before the update is applied
            self._refuse(problem(loss, grad_sq, update_sq, lr))
            self.optimizer.commit()  # the step is taken: from here on nothing can refuse it
            model.flat -= u
        else:  # decided on the device: a refused step, and every step after it, changes nothing
            ok = xp.isfinite(vector).all() if self._ok is None else self._ok & xp.isfinite(vector).all()
            self.optimizer.commit(keep=ok)
            step_if[xp](model.flat, u, ok)  # flat -= u where ok
            self._ok = ok
        self.step_count += 1  # at once: parameters, optimizer state and position always agree
        weight_sq = model.layout.sums(model.flat * model.flat).astype(xp.float64, copy=False)  # (k,)
        self._pending.add(self.step_count, lr, scale, xp.concatenate([vector, weight_sq]))
        self.seconds += time.perf_counter() - start
        ends_epoch = self.step_count % self.steps_per_epoch == 0
        if not (report or ends_epoch):
            return None
        self._settle()
        last = self._unreturned[-1]
        if report:
            self._unreturned.clear()
        step_report = self._report(last)
        if ends_epoch:
            step_report = dataclasses.replace(step_report, epoch_report=self._end_epoch(step_report))
        return step_report

    def reports(self) -> list[StepReport]:
        """The StepReports of the steps that step(report=False) did not return, oldest first
        (at most an epoch of them), in one transfer from the GPU. TrainingDiverged as step()."""
        self._settle()
        rows, self._unreturned = list(self._unreturned), deque(maxlen=self.steps_per_epoch)
        return [self._report(row) for row in rows]

    def _settle(self) -> None:
        """Fetch the pending steps' figures (one transfer) and add them to the epoch's totals.
        A refused step among them: set the trainer back to the step before it, and raise."""
        rows = self._pending.fetch(self.xp)
        for i, row in enumerate(rows):
            what = row.problem()
            if what is not None:
                refused = len(rows) - i  # this step and those after it, taken under a false flag
                self.step_count -= refused
                self.optimizer.t -= refused
                self._ok = None
                self._refuse(what)
            self._totals.add(row.loss, row.right, row.counted, row.grad_norms, row.update_ratios)
            self._unreturned.append(row)
        self._ok = None

    def _report(self, row: Row) -> StepReport:
        names = self.model.layout.names
        return StepReport(
            step=row.step, epoch=(row.step - 1) // self.steps_per_epoch + 1, loss=row.loss,
            acc=row.right / max(row.counted, 1), lr=row.lr, grad_norm=row.grad_norm, lr_scale=row.lr_scale,
            grad_norms=dict(zip(names, row.grad_norms.tolist())),
            update_ratios=dict(zip(names, row.update_ratios.tolist())),
        )  # fmt: skip

    def _refuse(self, what: str | None) -> None:
        """Raise TrainingDiverged for the step about to be taken, saying what was not finite
        (figures.problem); nothing when `what` is None."""
        if what is not None:
            raise TrainingDiverged(
                f"step {self.step_count + 1}: {what}; training stopped with the parameters of "
                f"step {self.step_count} (try a lower --lr, or --clip 1)",
                step=self.step_count + 1,
                what=what,
            )

    def run_epoch(self) -> EpochReport:
        """Steps until the current epoch ends; its report (one transfer from a GPU, at the end)."""
        while True:
            report = self.step(report=False)
            if report is not None and report.epoch_report is not None:
                return report.epoch_report

    def _end_epoch(self, last: StepReport) -> EpochReport:
        t, names = self._totals, list(self.model.params)
        self._totals = EpochTotals()
        self.model.release_workspace()  # the training pass's arrays are not held through evaluation
        val_loss, val_acc = evaluate_checked(self.model, *self._val)
        new_best, best = self.best.update(self.epoch, self.step_count, val_loss), self.best
        patience = self.train_cfg.patience
        return EpochReport(
            epoch=self.epoch, step=self.step_count, loss=t.loss / t.counted, acc=t.right / t.counted,
            val_loss=val_loss, val_acc=val_acc, lr=last.lr, grad_norm=last.grad_norm, seconds=self.seconds,
            grad_norms=dict(zip(names, (t.grad_norms / t.steps).tolist())),
            update_ratios=dict(zip(names, (t.update_ratios / t.steps).tolist())),
            probe=self.probe(), lr_scale=last.lr_scale, new_best=new_best, best_epoch=best.epoch,
            best_val_loss=best.val_loss, out_of_patience=patience > 0 and best.since(self.epoch) == patience,
        )  # fmt: skip

    # -------------------------------------------------------------------------- evaluation
    def evaluate(self, tokens: np.ndarray, targets: np.ndarray,
                 knockout: tuple[int, int] | None = None) -> tuple[float, float]:  # fmt: skip
        """Mean loss and accuracy over counted positions, without gradients (knockout: a
        (layer, head) left out, for analysis)."""
        return evaluate(self.model, tokens, targets, knockout)

    def probe(self, tokens: np.ndarray | None = None, knockout: tuple[int, int] | None = None,
              spaces: bool = True) -> ProbeReport:  # fmt: skip
        """What the model makes of one sequence (1, T): the task's probe sample by default,
        or any tokens (the lab's typed sequences); knockout: a (layer, head) left out;
        spaces: with the embedding space (engine/analysis/probe.py)."""
        if tokens is None:
            tokens, targets = self.task.probe()
        else:
            targets = self.task.targets_for(tokens)
        return look(self.model, tokens, targets, knockout, spaces)

    # ------------------------------------------------------------------------ checkpoints
    def position(self) -> dict:
        """Where training stands, as plain JSON-able data (saved in checkpoints). Fetches the
        pending steps' figures first (TrainingDiverged if one of them was refused)."""
        self._settle()
        return {
            "step": self.step_count,
            "epoch": self.epoch,
            "seconds": self.seconds,
            "epoch_totals": self._totals.to_dict(),
            "optimizer_t": self.optimizer.t,
            "lr_scale": self.lr_scale,
            "best": self.best.to_dict(),
        }

    def restore(self, position: dict, optimizer_state: dict | None) -> None:
        """Continue from a saved position (parameters are loaded separately); without
        optimizer_state the optimizer starts afresh. Everything is checked before anything
        changes: a bad position raises ValueError and leaves the trainer as it was. A position
        saved before lr_scale and best epochs existed goes on at factor 1 with no best yet."""
        step, seconds = int(position["step"]), float(position["seconds"])
        lr_scale, best = float(position.get("lr_scale", 1.0)), BestEpoch.from_dict(position.get("best"))
        low, high = LR_SCALE_LIMITS
        if not low <= lr_scale <= high:
            raise ValueError(f"lr_scale {lr_scale}")
        totals = EpochTotals(**position["epoch_totals"])
        t = 0 if optimizer_state is None else int(position["optimizer_t"])
        if step < 0 or t < 0 or not math.isfinite(seconds):
            raise ValueError(f"step {step}, optimizer step {t}, seconds {seconds}")
        self.optimizer.load_state_arrays(t, optimizer_state or {}, self.xp, self.model.cfg.dtype)  # checks it first
        self.step_count, self.seconds, self._totals = step, seconds, totals
        self._lr_scale, self.best = lr_scale, best
        self._pending.clear()
        self._unreturned.clear()
        self._ok = None
