"""How often the lab redraws while training runs, and how fast training goes.

The drawing thread shares Python's GIL with the trainer: every redraw is time the trainer
waits. So the panels redraw at most PANEL_HZ times a second, and less often when drawing
took more than UI_SHARE of the time in the last second (the UI thread's own CPU clock says).
"""

from __future__ import annotations

import math
import time

PANEL_HZ = 4  # at most this many redraws of the panels a second (the status line follows every report)
UI_SHARE = 0.08  # ...and fewer when drawing takes more than this share of the time


class RedrawBudget:
    """When the panels may be drawn again: an interval that adapts once a second."""

    def __init__(self) -> None:
        self.interval = 1 / PANEL_HZ  # seconds between panel redraws while training, adapted
        self._last_draw = 0.0
        self._mark = (time.monotonic(), time.thread_time())  # wall and UI-thread clocks

    def due(self) -> bool:
        return time.monotonic() - self._last_draw >= self.interval

    def drew(self) -> None:
        self._last_draw = time.monotonic()

    def adapt(self) -> None:
        """Once a second: a longer interval if the UI thread used more than UI_SHARE of the
        time, a shorter one if it used less (between 1/PANEL_HZ and 2 s)."""
        now, cpu = time.monotonic(), time.thread_time()
        then, cpu_then = self._mark
        if now - then >= 1.0:
            share = (cpu - cpu_then) / (now - then)
            interval = self.interval * min(max(share / UI_SHARE, 0.5), 2.0)
            self.interval = min(max(interval, 1 / PANEL_HZ), 2.0)
            self._mark = (now, cpu)


class RateMeter:
    """Steps per second, measured over at least half a second of wall time."""

    def __init__(self) -> None:
        self.rate = math.nan
        self._mark: tuple[float, int] | None = None

    def update(self, step: int) -> float:
        now = time.monotonic()
        if self._mark is not None and now > self._mark[0]:
            then, first = self._mark
            if now - then > 0.5:
                self.rate = (step - first) / (now - then)
                self._mark = (now, step)
        else:
            self._mark = (now, step)
        return self.rate

    def stop(self) -> None:
        self._mark = None
