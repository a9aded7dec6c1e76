"""What the four panels share: a border subtitle that ends in a note ("live", or the epoch
being replayed), and a block of text whose layout is redone only when its height changes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Noted:
    """Mixed into a panel: its border subtitle is what the panel says about itself
    (subtitle_prefix: "layer 1/2 · head 1/2", "6/8 right (probe)"), then the note."""

    note = "live"

    def subtitle_prefix(self) -> str:
        return ""

    def set_note(self, note: str | None = None) -> None:
        """Set the note (None: keep it) and redraw the subtitle."""
        if note is not None:
            self.note = note
        self.border_subtitle = " · ".join(part for part in (self.subtitle_prefix(), self.note) if part)


class TextBlock(Static):
    """A Static for a table redrawn several times a second: the layout pass (which costs more
    than the redraw) runs only when the number of lines changes."""

    lines = 1

    def show(self, text: Text) -> None:
        lines = len(text.plain.splitlines())
        self.update(text, layout=lines != self.lines)
        self.lines = lines
