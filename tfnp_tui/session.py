"""The training session behind the lab: the trainer, the thread that trains it, and every
tool that touches it, with no widget in sight. This file holds the training thread, the
learning-rate keys and the files (checkpoints, the best epoch, the metrics log); the tools
that look at the model (probes, samples, knock-out, gradient check) are in instruments.py.

The session is driven by method calls (run, pause, step, epoch, reset, scale_lr, save;
probe, inspect, sample, knock_out, gradcheck) and answers only by posting messages
(tfnp_tui/messages.py) through the `post` function it is given: the App's post_message in
the lab, a list's append in a test.

Threads: one trains at a time; it steps the trainer and posts a Progress report at most
UPDATE_HZ times a second, however fast the steps are, and at each epoch's end looks inside
the model (engine/analysis/inside.py) and has it write a sample (tfnp_tui/sampling.py) for
the lab's instruments. A lock serialises everything that reads or changes the trainer (a
step, a probe, a sample, a save, the gradient check's copy of the parameters), and every
message carries the generation of the trainer that sent it, so a reset can never mix two
runs. A step also waits while a gradient check has a bug planted in the engine
(engine/bugs.py), without holding the lock meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from textual.message import Message

from engine.analysis.inside import look_inside
from engine.bugs import kept_clean
from engine.generation import Vocabulary
from engine.training import checkpoint
from engine.training.checkpoint import CheckpointError
from engine.training.trainer import Trainer, TrainingDiverged

from .best_file import BestFile, patience_story
from .instruments import SessionInstruments
from .messages import (
    MetricsFailed,
    Progress,
    RunState,
    Saved,
    Stopped,
    ToolFailed,
)
from .metrics import MetricsError, header_record
from .numbers import plural
from .sampling import Sampler
from .setup import Setup

UPDATE_HZ = 10  # reports a second while training, whatever the step rate


class TrainingSession(SessionInstruments):
    """Trains `setup.trainer` in a background thread and posts what happens."""

    def __init__(self, setup: Setup, post: Callable[[Message], object]) -> None:
        self.setup = setup
        self.trainer: Trainer = setup.trainer
        self.post = post
        self.lock = threading.Lock()  # held while anything reads or changes the trainer
        self.generation = 0
        self.probe_tokens: np.ndarray | None = None  # a typed sequence, or None for the probe sample
        self.knockout: tuple[int, int] | None = None  # the (layer, head) the probes leave out, for analysis
        self.spaces = False  # live probes project the embedding space too (while the lab shows it)
        self.sampler = Sampler(Vocabulary.of_task(self.trainer.task))  # the samples' temperature and seed
        self.saved_step = self.trainer.step_count  # the step the newest checkpoint holds
        self.best_file = BestFile.beside(setup.save)  # with --save: each new best epoch is written there
        self.metrics = setup.metrics_log()  # MetricsError when the file cannot be continued
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # the training thread's: set to pause it
        self._helpers: list[threading.Thread] = []  # probes, checks and saves under way
        self._saves: list[threading.Thread] = []  # saves under way: the way out waits for them
        self._best_writes: list[threading.Thread] = []  # the best epoch's, started by the training thread alone
        self._checks: dict[str | None, tuple] = {}  # bug -> (thread, generation) of its newest gradient check

    # ------------------------------------------------------------------------- training
    @property
    def running(self) -> bool:
        """A training thread is at work and has not been told to stop."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def run(self) -> None:
        """Train until paused (or until the epochs asked for are done)."""
        self._start("run")

    def epoch(self) -> None:
        """Train to the end of the current epoch, then pause."""
        self._start("epoch")

    def step(self) -> None:
        """One optimizer step."""
        self._start("step")

    def pause(self, wait: bool = False) -> None:
        """Stop training after the step under way (and wait for it, with wait=True)."""
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join()

    def join(self) -> None:
        """Wait until every thread of the session (training, probes, checks, saves) is done."""
        for thread in [self._thread, *self._helpers]:
            if thread is not None:
                thread.join()
        for thread in self._best_writes:  # started by the training thread: seen once it is done
            thread.join()
        self._helpers = [t for t in self._helpers if t.is_alive()]

    def _spawn(self, target, *args) -> threading.Thread:
        """Run a tool in a thread of its own (it takes the lock to touch the trainer); an
        error it meets is posted, never lost in the thread."""

        def guarded() -> None:
            try:
                target(*args)
            except Exception as err:
                self.post(ToolFailed(f"{target.__name__.strip('_')} failed: {type(err).__name__}: {err}"))

        thread = threading.Thread(target=guarded, daemon=True)
        thread.start()  # before join() can see it
        self._helpers = [t for t in self._helpers if t.is_alive()] + [thread]
        return thread

    def _start(self, mode: str) -> None:
        if self.running:
            return
        previous, self._stop = self._thread, threading.Event()
        thread = threading.Thread(target=self._train, args=(mode, previous, self._stop), daemon=True)
        thread.start()  # before join() can see it: a thread not yet started cannot be joined
        self._thread = thread
        self.post(RunState(self.generation, True))

    def _train(self, mode: str, previous: threading.Thread | None, stop: threading.Event) -> None:
        """The training thread: step until `stop`, the epoch's end (epoch), once (step), or
        the epochs asked for (run)."""
        if previous is not None:
            previous.join()  # a quick pause-and-run: the old thread finishes its step first
        generation, trainer = self.generation, self.trainer
        stop_when_finished = mode == "run" and not trainer.finished
        losses, epochs, last_post = [], [], 0.0
        try:
            while not stop.is_set():
                with kept_clean(0.05) as clean:
                    if not clean:  # a planted bug is being checked: no step runs on it
                        continue
                    with self.lock:
                        if generation != self.generation:
                            return
                        ended = trainer.step(report=False)  # a report at an epoch's end only: no wait on a GPU
                        if ended is not None:
                            ended = self._look_inside(ended)
                            self._log(ended.epoch_report)
                            self._keep_best(ended.epoch_report)
                            epochs.append(ended.epoch_report)
                patient = ended is None or not ended.epoch_report.out_of_patience
                done = (mode == "step" or (mode == "epoch" and ended is not None)
                        or (stop_when_finished and trainer.finished) or not patient)  # fmt: skip
                if done or time.monotonic() - last_post >= 1 / UPDATE_HZ:
                    report = self._fetch_reports(losses, ended)
                    self._post_progress(generation, report, losses, epochs, final=done)
                    losses, epochs, last_post = [], [], time.monotonic()
                if done:
                    if stop_when_finished and trainer.finished:
                        msg = f"trained the {trainer.train_cfg.epochs} epochs asked for; space trains on"
                        self.post(Stopped(generation, "finished", msg))
                    elif not patient:
                        why = f"stopped early: {patience_story(trainer)}; space trains on"
                        self.post(Stopped(generation, "patience", why))
                    return
        except TrainingDiverged as err:
            self._diverged(generation, err)
        except Exception as err:  # shown in the lab, never as a traceback
            self.post(Stopped(generation, "error", f"training failed: {type(err).__name__}: {err}"))
        finally:
            self._post_rest(generation, losses, epochs)
            stop.set()
            self.post(RunState(generation, False))

    def _fetch_reports(self, losses: list, ended, generation: int | None = None):
        """The reports of the steps since the last post (one transfer from a GPU), their losses
        added to `losses` -> the newest, with its epoch report when it ended an epoch (ended).
        TrainingDiverged if one of them was refused. None when `generation` is given and no
        longer the session's (its trainer is gone)."""
        with self.lock:
            if generation is not None and generation != self.generation:
                return None
            reports = self.trainer.reports()
        losses.extend(r.loss for r in reports)
        if not reports or (ended is not None and ended.step == reports[-1].step):
            return ended
        return reports[-1]

    def _post_rest(self, generation: int, losses: list, epochs: list) -> None:
        """After the loop: the steps not posted yet, if any (paused between two posts; or the
        good steps before a diverged one)."""
        try:
            report = self._fetch_reports(losses, None, generation)
        except TrainingDiverged as err:  # a refused step among them, found only now (on a GPU)
            self._diverged(generation, err)
            report = self._fetch_reports(losses, None, generation)  # the good steps before it
        if report is not None and (losses or epochs):
            self._post_progress(generation, report, losses, epochs, final=True)

    def _diverged(self, generation: int, err: TrainingDiverged) -> None:
        short = f"diverged at step {err.step}: {err.what} · paused with the last good parameters · ? help"
        self.post(Stopped(generation, "diverged", f"diverged at {err}", short))

    def _look_inside(self, report):
        """At an epoch's end (under the lock): the look inside the model that the lab's
        instruments draw, kept with the epoch for replay; with a head knocked out, the
        validation figures without it."""
        inside = look_inside(self.trainer.model, self.trainer.task, report.epoch_report.probe)
        if self.knockout is not None:
            e = report.epoch_report
            self.post(self._knocked_out_figures((e.val_loss, e.val_acc)))
        sample = self.sampler.write(self.trainer, self.probe_tokens)  # after the typed sequence, if any
        return replace(report, epoch_report=replace(report.epoch_report, inside=inside, sample=sample))

    def _keep_best(self, report) -> None:
        """At a new best epoch's end (under the lock): its checkpoint, written in a thread."""
        if report.new_best and self.best_file is not None:
            thread = self.best_file.write_later(self.trainer, (self.generation, report.epoch), self.post)
            self._best_writes = [t for t in self._best_writes if t.is_alive()] + [thread]

    def scale_lr(self, factor: float) -> tuple[float, float]:
        """Multiply the learning rate by `factor` from the next step on: (the factor on the
        schedule now, the next step's rate). ValueError past LR_SCALE_LIMITS: nothing changes.
        Without the lock, so the key answers at once even during a long step or epoch end: the
        factor is one float that a step reads once (Trainer.step), before or after this."""
        self.trainer.lr_scale = scale = self.trainer.lr_scale * factor
        return scale, self.trainer.next_lr(scale)

    def _post_progress(self, generation: int, report, losses: list, epochs: list, final: bool) -> None:
        with self.lock:
            if generation != self.generation:
                probe = None
            elif self.probe_tokens is None and self.knockout is None and report.epoch_report is not None:
                probe = report.epoch_report.probe  # the epoch's end looked at the probe sample already
            else:
                probe = self.trainer.probe(self.probe_tokens, self.knockout, self.spaces)
        self.post(Progress(generation, report, losses, epochs, probe, final))

    def _log(self, report) -> None:
        """--metrics-out: a JSON line per epoch; a file that cannot be written is said once."""
        if self.metrics is None:
            return
        try:
            self.metrics.write(report)
        except MetricsError as err:
            self.metrics = None
            self.post(MetricsFailed(f"{err}; metrics are off"))

    def reset(self) -> None:
        """A fresh model, as the flags describe it; the metrics file starts afresh."""
        self.pause()
        with self.lock:
            self.generation += 1
            old = self.trainer
            self.trainer = Trainer(old.model_cfg, old.train_cfg, task=old.task)
            self.saved_step = 0
            if self.metrics:
                self.metrics.restart(header_record(self.trainer))  # a new run, a new file
        for thread in self._best_writes:  # the run before's best epoch is on disk before a new run names files
            thread.join()

    # ---------------------------------------------------------------------------- files
    def save(self, path: str) -> None:
        """Write a checkpoint in the background; Saved says how it went."""
        self._saves = [t for t in self._saves if t.is_alive()] + [self._spawn(self._save, path)]

    def _save(self, path: str) -> None:
        try:
            generation, step = self.save_now(path)
        except CheckpointError as err:
            self.post(Saved(path, 0, str(err)))
            return
        self.post(Saved(path, step, generation=generation))

    def save_now(self, path: str) -> tuple[int, int]:
        """Write a checkpoint now; (generation, step) saved. CheckpointError if it cannot."""
        with self.lock:
            checkpoint.save(path, self.trainer)
            generation, step = self.generation, self.trainer.step_count
            self.saved_step = step
        return generation, step

    def leave(self, path: str, save: bool, tried: bool = False) -> str | None:
        """On the way out of the lab: stop training; with `save` (--save was given), write
        `path` unless that was `tried` and failed (CheckpointError if it fails now). The line
        that says what became of the training, or None when there is nothing to say."""
        self._stop_and_finish_saves()
        if save and not tried:
            return f"saved {path} (step {self.save_now(path)[1]})"
        trained = self.trainer.step_count - self.saved_step
        if not trained:
            return None
        since = "the last save" if self.saved_step else "the start"
        how = f"{path} could not be written" if tried else "w saves in the lab; --save FILE also saves on quit"
        return f"not saved: {plural(trained, 'step')} trained since {since} ({how})"

    def _stop_and_finish_saves(self) -> None:
        """Stop training, and let a save under way (w just before q) finish and count."""
        self.pause(wait=True)
        for thread in [*self._saves, *self._best_writes]:
            thread.join()

    def close(self) -> str | None:
        """Stop training and close the metrics file; what went wrong closing it, if anything."""
        self._stop_and_finish_saves()
        try:
            if self.metrics:
                self.metrics.close()
        except MetricsError as err:
            return str(err)
        return None
