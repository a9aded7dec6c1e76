"""The Samples panel: what a causal model writes (the text task, or a toy task trained with
--causal), so a learner watches gibberish turn into words epoch by epoch.

At each epoch's end the model writes a continuation of the probe sample (or of the sequence
typed with t), kept with the epoch: ←/→ replays the writing of each epoch. The prompt is
dim, what the model wrote is bold; the first line says when it was written (the epoch, or
the step of a sample made between epochs), the temperature, the seed, and whether the
prompt was typed. Keys (keys.py):
x shows this panel in place of the loss curves, < and > move the temperature along its
ladder (0 greedy .. 1.5), z writes again with a fresh seed, t types a prompt. Characters
are written as they are (a newline breaks the line); a toy task's tokens as numbers.

A model that is not causal cannot write (each position saw the later ones in training):
the panel says so in one line instead.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from engine.training.tasks import visible

from ..sampling import CANNOT_WRITE, Sample
from ..view import Frame
from .panel import Panel, PanelScroll

NOT_YET = "no sample yet: each epoch's end writes one (n trains an epoch); z writes one now"


class SamplesPanel(Panel, PanelScroll):
    """The prompt and what the model wrote after it (the panel scrolls: Tab to it, then ↑/↓)."""

    TITLE = "Samples"
    SHOWN_BY = "samples"
    DEFAULT_CSS = "SamplesPanel { scrollbar-size-vertical: 1; }"

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.sample: Sample | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(NOT_YET if self.lab.causal else CANNOT_WRITE, style="dim"), id="samples-text")

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.sample,)

    def draw(self, frame: Frame) -> None:
        self.sample = frame.sample
        if not self.lab.causal:
            text = Text(CANNOT_WRITE, style="yellow")
        elif frame.sample is None:
            text = Text(NOT_YET if frame.view.live else "no sample was kept with this epoch", style="dim")
        else:
            text = sample_text(frame.sample)
        self.query_one("#samples-text", Static).update(text)

    def clear(self) -> None:
        super().clear()
        self.sample = None


def sample_text(sample: Sample) -> Text:
    """The sample as the panel shows it: a dim line saying when and how it was written, then
    the prompt (dim) and what the model wrote after it (bold), wrapped to the panel."""
    typed = " · typed prompt" if sample.typed else ""
    text = Text(f"{sample.when} · {sample.how}{typed}\n", style="dim")
    text.append(readable(sample.prompt_text), style="dim")
    text.append(readable(sample.text), style="bold")
    return text


def readable(text: str) -> str:
    """Text as a terminal can show it: newlines break the line, other control characters
    (tab, carriage return, ...) get a visible symbol, so nothing moves the cursor."""
    return "".join(c if c in "\n " or c.isprintable() else visible(c) for c in text)
