"""--headless: the Trainer loop in the terminal, without the lab.

A rich progress bar while it trains, one line per epoch (loss, accuracy, validation),
a final summary; --metrics-out writes one JSON line per epoch, --save a checkpoint at the
end (or when interrupted). A run that diverges keeps its last good parameters beside
--save, in FILE.diverged.npz, and leaves --save as it was. With --save, each new best epoch
(the lowest validation loss) is written to FILE.best.npz as it ends (tfnp_tui/best_file.py);
--patience N stops the run, exit status 0, after N epochs without a new best.
"""

from __future__ import annotations

import os
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.training import checkpoint
from engine.training.checkpoint import CheckpointError
from engine.training.reports import EpochReport
from engine.training.trainer import Trainer, TrainingDiverged

from .best_file import BestFile, out_of_patience, patience_story
from .describe import describe
from .files import diverged_path, same_file
from .metrics import MetricsError, MetricsLog
from .numbers import loss_text, plural, rate_text
from .setup import PROG, Setup

REFRESH_SECONDS = 0.1  # how often the progress bar's numbers change


def epoch_line(r: EpochReport, epochs: int) -> str:
    width = len(str(epochs))
    return (
        f"epoch {r.epoch:>{width}}/{epochs}  step {r.step:>6}  loss {loss_text(r.loss)}  acc {100 * r.acc:5.1f}%  "
        f"val_loss {loss_text(r.val_loss)}  val_acc {100 * r.val_acc:5.1f}%  {rate_text(r.lr, r.lr_scale)}  "
        f"{r.seconds:.1f}s" + ("  best" if r.new_best else "")
    )


def fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def run_headless(setup: Setup) -> int:
    """Train to the configured number of epochs; the exit status."""
    trainer = setup.trainer
    console = Console(highlight=False, soft_wrap=True)
    console.print(describe(trainer))
    if trainer.finished:
        done = plural(trainer.epoch, "epoch")
        console.print(f"{setup.loaded.path} has already trained {done}: raise --epochs to go on")
        return 0
    if out_of_patience(trainer):
        console.print(f"{setup.loaded.path} stopped early: {patience_story(trainer)}; raise --patience to go on")
        return 0
    try:
        metrics = setup.metrics_log()
    except MetricsError as err:
        return fail(str(err))
    best = BestFile.beside(setup.save)
    try:
        last = train(trainer, console, metrics, best)
        if metrics:
            metrics.close()
    except (MetricsError, CheckpointError) as err:  # a full disk, or a path the check at the start could not foresee
        close_quietly(metrics)
        save(setup, trainer, console)
        return fail(str(err))
    except MemoryError:  # parameters, optimizer state and position agree after every step
        close_quietly(metrics)
        saved = save(setup, trainer, console)
        return fail(
            f"out of memory after step {trainer.step_count}: try a smaller --batch-size or model" + kept(setup, saved)
        )
    except TrainingDiverged as err:  # the run failed: its parameters replace nothing of the user's
        close_quietly(metrics)
        path = diverged_path(setup.save) if setup.save else None
        saved = save(setup, trainer, console, path)
        return fail(f"training diverged at {err}" + kept(setup, saved, path))
    except KeyboardInterrupt:  # the run did not finish: exit 2, as DESIGN pins; what it trained is kept
        close_quietly(metrics)
        saved = save(setup, trainer, console)
        return fail(f"interrupted after step {trainer.step_count}" + kept(setup, saved))
    if last is not None and last.out_of_patience:
        console.print(f"stopped early at epoch {last.epoch}: {patience_story(trainer)}")
    console.print(summary(trainer, last, kept_best(setup, best)))
    return 0 if save(setup, trainer, console) is not False else 2


def close_quietly(metrics: MetricsLog | None) -> None:
    """Close the metrics file on the way out of a run that already failed for another reason."""
    if metrics:
        try:
            metrics.close()
        except MetricsError as err:
            print(f"{PROG}: warning: {err}", file=sys.stderr)


def train(trainer: Trainer, console: Console, metrics: MetricsLog | None,
          best: BestFile | None = None) -> EpochReport | None:  # fmt: skip
    """Step until finished, or out of patience; print and record each epoch, and write each
    new best epoch to `best`. Returns the last epoch report. CheckpointError when the best
    file cannot be written."""
    epochs = trainer.train_cfg.epochs
    last = None
    columns = (
        TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps  loss {task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("train", total=trainer.total_steps, completed=trainer.step_count,
                                epoch=trainer.epoch + 1, epochs=epochs, loss="-")  # fmt: skip
        shown = 0.0
        while not trainer.finished:
            due = time.perf_counter() - shown > REFRESH_SECONDS
            report = trainer.step(report=due)  # the others bring nothing back from a GPU; an epoch's last step reports
            if report is None:
                continue
            if report.epoch_report is not None:
                last = report.epoch_report
                progress.console.print(epoch_line(last, epochs))
                if metrics:
                    metrics.write(last)
                if best and last.new_best:
                    best.write(checkpoint.contents(trainer), (0, last.epoch))
                if last.out_of_patience:
                    break
            progress.update(bar, completed=report.step, epoch=min(report.epoch, epochs), loss=f"{report.loss:.4f}")
            shown = time.perf_counter()
    return last


def kept_best(setup: Setup, best: BestFile | None) -> str | None:
    """The file that holds the run's best epoch: the one this run wrote it to, or, for a best
    epoch from before a resumed run that saves where it loaded, the best file beside it."""
    epoch = setup.trainer.best.epoch
    if best is None or not epoch:
        return None
    if best.holds(epoch):
        return best.path
    resumed_in_place = setup.loaded is not None and same_file(setup.loaded.path, setup.save)
    loaded_epoch = setup.loaded.position.get("epoch", 0) if setup.loaded else 0
    return best.path if resumed_in_place and epoch <= loaded_epoch and os.path.isfile(best.path) else None


def summary(trainer: Trainer, last: EpochReport | None, best_path: str | None = None) -> str:
    """The closing line: the last epoch's figures, the rate, and the best epoch (and the file
    that keeps it, `best_path`, when there is one)."""
    if last is None:
        return "no epoch finished"
    b = trainer.best
    kept = f", kept in {best_path}" if best_path else ""
    best_part = f"  best epoch {b.epoch} (val_loss {loss_text(b.val_loss)}{kept})" if b.epoch else ""
    rate = trainer.step_count / max(trainer.seconds, 1e-9)
    return (
        f"done: {plural(last.epoch, 'epoch')}, {plural(last.step, 'step')} in {last.seconds:.1f}s "
        f"({rate:,.0f} steps/s)  "
        f"loss {last.loss:.4f}  acc {100 * last.acc:.1f}%  val_acc {100 * last.val_acc:.1f}%{best_part}"
    )


def kept(setup: Setup, saved: bool | None, path: str | None = None) -> str:
    """'; the last good parameters are in FILE' when they were saved."""
    return f"; the last good parameters are in {path or setup.save}" if saved else ""


def save(setup: Setup, trainer: Trainer, console: Console, path: str | None = None) -> bool | None:
    """Write the checkpoint to `path` or --save, if --save was given: True if written,
    False if it failed."""
    if not setup.save:
        return None
    path = path or setup.save
    try:
        checkpoint.save(path, trainer)
    except CheckpointError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return False
    console.print(f"saved {path} (step {trainer.step_count})")
    return True
