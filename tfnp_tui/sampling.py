"""The lab's samples: what a causal model writes after the probe sample (or after a prompt
typed with t), drawn at each epoch's end and kept with the epoch for replay, and on demand
(z: a fresh seed; < and >: another temperature).

The session calls Sampler.write under its lock, in the training thread at an epoch's end or
in a helper thread; the Samples panel (widgets/samples.py) reads the Sample it returns.
An epoch's end always writes with the settings of the moment (temperature, seed), so epoch
after epoch the same random draws meet a better model: what changes is the writing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.generation import NOT_CAUSAL, Vocabulary, generate

TEMPERATURES = (0.0, 0.5, 0.8, 1.0, 1.2, 1.5)  # the ladder < and > move along; 0 is greedy (argmax)
DEFAULT_TEMPERATURE = 0.8  # nanoGPT's sample.py default: readable, not yet repetitive
SAMPLE_TOKENS = 200  # tokens written each time: a short paragraph; about 4% of a text epoch (benchmarks/README.md)
CANNOT_WRITE = "this model cannot write: " + NOT_CAUSAL.removeprefix("the model is not causal: ")


@dataclass(frozen=True, eq=False)  # arrays inside: compared by identity
class Sample:
    """What the model wrote after a prompt, and how it was drawn."""

    prompt: np.ndarray  # (n,) the prompt's token ids (n <= seq_len)
    tokens: np.ndarray  # (m,) the ids it wrote after the prompt
    vocab: Vocabulary  # what the ids stand for
    temperature: float  # 0: greedy
    seed: int  # the NumPy generator's seed: the same seed and model write the same tokens
    step: int  # optimizer steps the model had taken
    epoch: int  # epochs it had finished
    at_end: bool  # drawn at that epoch's very end (else between two epochs, on demand)
    typed: bool  # the prompt was typed (else it is the probe sample)
    number: int = 0  # samples are numbered as they are made: the newest is shown live

    @property
    def prompt_text(self) -> str:
        return self.vocab.decode(self.prompt)

    @property
    def text(self) -> str:
        """What it wrote, with what goes between it and the prompt (a space between ids)."""
        return self.vocab.separator + self.vocab.decode(self.tokens) if len(self.tokens) else ""

    @property
    def when(self) -> str:
        """'epoch 3', 'untrained', or 'step 412 (epoch 4)' for a sample between two epochs."""
        if self.step == 0:
            return "untrained"
        return f"epoch {self.epoch}" if self.at_end else f"step {self.step} (epoch {self.epoch + 1})"

    @property
    def how(self) -> str:
        """'temperature 0.8 · seed 0' ('temperature 0 (greedy)': the seed does not matter then)."""
        if self.temperature == 0:
            return "temperature 0 (greedy)"
        return f"temperature {self.temperature:g} · seed {self.seed}"


class Sampler:
    """The lab's sampling settings (temperature, seed) and the call that writes with them.
    The keys change the settings in the lab's thread; the writer reads each once a call."""

    def __init__(self, vocab: Vocabulary, tokens: int = SAMPLE_TOKENS) -> None:
        self.vocab = vocab
        self.tokens = tokens
        self.temperature = DEFAULT_TEMPERATURE
        self.seed = 0
        self.made = 0  # samples written so far (under the session's lock)

    def move_temperature(self, delta: int) -> float:
        """The next temperature up (delta 1) or down (-1) the ladder, kept at its ends."""
        here = min(range(len(TEMPERATURES)), key=lambda i: abs(TEMPERATURES[i] - self.temperature))
        self.temperature = TEMPERATURES[max(0, min(len(TEMPERATURES) - 1, here + delta))]
        return self.temperature

    def reseed(self) -> int:
        """A fresh seed (the next one: a run of z presses is repeatable)."""
        self.seed += 1
        return self.seed

    def settings(self) -> tuple[float, int]:
        """(temperature, seed) as they are now: a helper thread takes them when it is started."""
        return self.temperature, self.seed

    def write(self, trainer, typed: np.ndarray | None, settings: tuple[float, int] | None = None) -> Sample | None:
        """What the trainer's model writes after `typed` (1, n) tokens, or after the probe
        sample when None; None for a model that is not causal (it cannot write: CANNOT_WRITE).
        The caller holds the session's lock: the parameters hold still meanwhile."""
        model = trainer.model
        if not model.cfg.causal:
            return None
        temperature, seed = settings or self.settings()
        prompt = np.asarray(typed if typed is not None else trainer.task.probe()[0], dtype=np.int64)[0]  # (n,)
        written = generate(model, prompt, self.tokens, temperature, 0, seed)
        tokens = np.fromiter(written, dtype=np.int64, count=self.tokens)  # (m,)
        at_end = trainer.step_count % trainer.steps_per_epoch == 0
        self.made += 1
        return Sample(prompt.copy(), tokens, self.vocab, temperature, seed, trainer.step_count, trainer.epoch,
                      at_end, typed is not None, self.made)  # fmt: skip


def newer(sample: Sample | None, than: Sample | None) -> Sample | None:
    """The sample to show live: the one made last, whichever message brought it first (an
    epoch's end comes with a throttled report, a sample on demand at once)."""
    if sample is None:
        return than
    return sample if than is None or sample.number > than.number else than
