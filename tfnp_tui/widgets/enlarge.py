"""The one line a terminal smaller than the lab needs gets instead of the panels."""

from __future__ import annotations

from textual.widgets import Static

MIN_SIZE = (80, 24)


def too_small(width: int, height: int) -> bool:
    return width < MIN_SIZE[0] or height < MIN_SIZE[1]


class EnlargeNote(Static):
    """'Enlarge the terminal to at least 80x24 (it is 70x20)', and what space and q do."""

    def say(self, size: tuple[int, int], running: bool) -> None:
        """size: the terminal's, as the newest resize event gave it (the App's may lag)."""
        state = "training runs: space pauses" if running else "paused: space runs"
        self.update(
            f"Enlarge the terminal to at least {MIN_SIZE[0]}x{MIN_SIZE[1]} (it is {size[0]}x{size[1]})\n"
            f"{state} · q quits"
        )
