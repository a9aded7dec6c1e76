"""The status line: running or paused, epoch, step, loss, task, optimizer and learning rate
(with the factor the - and + keys put on it), and below it the latest message (saved,
diverged, replaying)."""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..numbers import loss_text, rate_text

HOLD_SECONDS = 6.0  # a warning or error stays this long before routine news may replace it


class StatusLine(Widget):
    """Two lines at the top of the lab."""

    DEFAULT_CSS = "StatusLine { height: 2; padding: 0 1; background: $boost; }"

    running: reactive[bool] = reactive(False)
    epoch: reactive[int] = reactive(0)
    step: reactive[int] = reactive(0)
    loss: reactive[float] = reactive(math.nan)
    lr: reactive[float] = reactive(math.nan)
    lr_scale: reactive[float] = reactive(1.0)  # the factor on the schedule's rate (the - and + keys)
    rate: reactive[float] = reactive(math.nan)  # steps per second while running
    message: reactive[str] = reactive("")
    severity: reactive[str] = reactive("information")  # information | warning | error
    knocked: reactive[tuple | None] = reactive(None)  # the (layer, head) knocked out of the analysis

    def __init__(self, task: str, optimizer: str, model: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.task_name, self.optimizer_name, self.model_summary = task, optimizer, model
        self._said_at = 0.0  # when the current message was said

    def render(self) -> Text:
        text = Text()
        text.append("● running" if self.running else "○ paused", style="bold green" if self.running else "bold yellow")
        text.append(f"  epoch {self.epoch}  step {self.step}  ")
        text.append(f"loss {'-' if math.isnan(self.loss) else loss_text(self.loss)}", style="bold")
        room = self.size.width - 2  # the padding
        if self.knocked is not None:
            layer, head = self.knocked
            text.append(f"  ✕ L{layer + 1} H{head + 1} out" + (" (analysis only)" if room >= 100 else ""),
                        style="bold magenta")  # fmt: skip
        rate = f"  {self.rate:,.0f} steps/s" if self.running and math.isfinite(self.rate) else ""
        lr = rate_text(self.lr, self.lr_scale)
        whole = f"  task {self.task_name}  {self.optimizer_name} {lr}"
        short = f"  {lr}" if self.lr_scale != 1 else ""  # narrow: a changed rate is still said
        for extra, style in ((whole if text.cell_len + len(whole) <= room else short, ""),
                             (rate, "dim"), (f"  {self.model_summary}", "dim")):  # fmt: skip
            if extra and text.cell_len + len(extra) <= room:
                text.append(extra, style=style)
        text.append("\n")
        style = {"error": "bold red", "warning": "yellow"}.get(self.severity, "dim")
        text.append(self.message or "space run/pause · n epoch · s step · ←/→ replay · ? all keys", style=style)
        text.no_wrap, text.overflow = True, "ellipsis"  # two lines, whatever the width
        return text

    def follow(self, step, epochs: list, rate: float) -> None:
        """The newest step's figures, the steps/s, and a finished epoch's as routine news."""
        self.epoch, self.step, self.loss, self.lr, self.rate = step.epoch, step.step, step.loss, step.lr, rate
        self.lr_scale = step.lr_scale
        if epochs:
            e = epochs[-1]
            self.say(f"epoch {e.epoch}: loss {loss_text(e.loss)}  acc {100 * e.acc:.1f}%  "
                     f"val_loss {loss_text(e.val_loss)}  val_acc {100 * e.val_acc:.1f}%", routine=True)  # fmt: skip

    def say(self, message: str, severity: str = "information", routine: bool = False) -> None:
        """Show `message` on the second line. Routine news (an epoch's figures) does not
        replace a warning or an error until it has been shown HOLD_SECONDS."""
        now = time.monotonic()
        if routine and self.severity != "information" and now - self._said_at < HOLD_SECONDS:
            return
        self.message, self.severity, self._said_at = message, severity, now
