"""The training session's instruments: the probes, the look inside, the samples, the head
knock-out and the gradient check (TrainingSession, tfnp_tui/session.py, is made of this and
of the training thread and the files).

Each call returns at once: the work runs in a helper thread of the session (_spawn), takes
the session's lock to read the trainer, and posts what it found (tfnp_tui/messages.py) with
the generation of the trainer it looked at, so a reset never mixes two runs. The gradient
check works on a copy of the parameters, so training can go on while it runs.
"""

from __future__ import annotations

import numpy as np

from engine.analysis.inside import look_inside
from engine.bugs import planted
from engine.gradcheck import check_model
from engine.model import TransformerEncoder

from .messages import GradcheckDone, Inspected, KnockedOut, Probed, Sampled


class SessionInstruments:
    """The session's tools that look at the model (a part of TrainingSession: it relies on
    its lock, generation, trainer, post, _spawn and pause, and on the view state below, which
    TrainingSession sets up)."""

    probe_tokens: np.ndarray | None  # a typed sequence, or None for the probe sample
    knockout: tuple[int, int] | None  # the (layer, head) the probes leave out, for analysis
    spaces: bool  # live probes project the embedding space too (while the lab shows it)

    def probe(self, tokens: np.ndarray | None = None) -> None:
        """Look at `tokens` (None: the probe sample) from now on, and at once."""
        self.probe_tokens = tokens
        self._spawn(self._probe)

    def _probe(self) -> None:
        with self.lock:
            generation, probe = self.generation, self.trainer.probe(self.probe_tokens, self.knockout, self.spaces)
        self.post(Probed(generation, probe))

    def inspect(self) -> None:
        """Look inside the model as it is now (the start, a reset): Inspected says what was seen."""
        self._spawn(self._inspect)

    def _inspect(self) -> None:
        with self.lock:
            generation, inside = self.generation, look_inside(self.trainer.model, self.trainer.task)
        self.post(Inspected(generation, inside))

    def sample(self) -> None:
        """Have the model as it is now write after the probe sample (or the typed sequence),
        with the sampler's settings as they are now: Sampled brings it."""
        self._spawn(self._sample, self.probe_tokens, self.sampler.settings())

    def _sample(self, typed, settings: tuple[float, int]) -> None:
        with self.lock:
            generation, sample = self.generation, self.sampler.write(self.trainer, typed, settings)
        self.post(Sampled(generation, sample))

    def knock_out(self, head: tuple[int, int] | None) -> None:
        """Leave `head` (layer, head) out of every probe from now on (None: every head back),
        and measure the validation set without it. Training always uses every head."""
        self.knockout = head
        self._spawn(self._knock_out)

    def _knock_out(self) -> None:
        with self.lock:
            generation, probe = self.generation, self.trainer.probe(self.probe_tokens, self.knockout, self.spaces)
            figures = self._knocked_out_figures()
        self.post(Probed(generation, probe))
        self.post(figures)

    def _knocked_out_figures(self, whole: tuple[float, float] | None = None) -> KnockedOut:
        """The validation loss and accuracy without the knocked-out head, and with every head
        (`whole`, when the epoch's end has just measured them), under the lock."""
        t, head = self.trainer, self.knockout
        if head is None:
            return KnockedOut(self.generation, None)
        val = t.task.val_tokens, t.task.val_targets
        return KnockedOut(self.generation, head, *t.evaluate(*val, knockout=head), *(whole or t.evaluate(*val)))

    def gradcheck(self, bug: str | None = None) -> None:
        """Pause, then check the gradients of the model as it is now (on a copy); with `bug`, a
        name in engine.bugs.BUGS, that bug is planted for the check. With dropout in the run's
        TrainConfig, the training-time gradient: one fixed set of masks for every evaluation. A check with the same
        bug already under way is not started again: its result (which says its step) comes."""
        self.pause()
        under_way, generation = self._checks.get(bug, (None, -1))
        if under_way is not None and under_way.is_alive() and generation == self.generation:
            return
        self._checks[bug] = (self._spawn(self._gradcheck, bug), self.generation)

    def _gradcheck(self, bug: str | None) -> None:
        """A planted bug breaks the engine's backward passes for the whole process: training
        steps wait for it to be taken out (kept_clean in _train), and `planted` keeps checks
        from overlapping. Nothing else waits: probes and saves run no backward pass."""
        with self.lock:  # a copy of the parameters as they are now: the check never touches the trainer
            t, generation = self.trainer, self.generation
            params, step = t.model.params_numpy(), t.step_count
        model = TransformerEncoder(t.model_cfg, params=params)
        tokens, targets = t.task.train_tokens[:2], t.task.train_targets[:2]
        max_entries = max(4, min(32, 3000 // len(model.params)))
        with planted(bug):
            report = check_model(model, tokens, targets, max_entries=max_entries, dropout=t.train_cfg.dropout)
        self.post(GradcheckDone(report, step, bug, generation))
