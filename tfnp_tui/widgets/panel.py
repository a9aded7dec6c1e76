"""What every panel of the lab shares: one interface, a subtitle that ends in a note ("live",
or the epoch being replayed), the keys that scroll a focused panel, and a block of text whose
layout is redone only when its height changes.

The interface (see tfnp_tui/widgets/README.md, "Adding a panel"):

    Panel(lab: LabInfo)     built from the facts about the run (tfnp_tui/view.py)
    feed(progress)          new data from training: every report, whether drawn or not
    show(frame)             the Frame: the view (live or an epoch, layer, head, ...) and its data;
                            draws it (draw) when what the panel depends on has changed
    clear()                 a reset: forget the run

The App loops over its panels; it does not know what any of them draws.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..messages import Progress
from ..view import Frame, LabInfo

# the keys a focused panel scrolls with (← and → stay the lab's: they replay epochs)
SCROLL_KEYS = [
    Binding("up", "scroll_up", "scroll", show=False),
    Binding("down", "scroll_down", "scroll", show=False),
    Binding("pageup", "page_up", "page up", show=False),
    Binding("pagedown", "page_down", "page down", show=False),
    Binding("home", "scroll_home", "top", show=False),
    Binding("end", "scroll_end", "bottom", show=False),
]


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
        subtitle = " · ".join(part for part in (self.subtitle_prefix(), self.note) if part)
        if subtitle != self.border_subtitle:  # setting it repaints the whole panel
            self.border_subtitle = subtitle


class Panel(Noted):
    """Mixed into every panel widget, before its Textual base class: the lab's interface."""

    TITLE = ""  # the border title
    SHOWN_BY = ""  # a panel that shares its slot: the View field that brings it forward (app.py: PANELS)

    def __init__(self, lab: LabInfo, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lab = lab
        self.border_title = self.TITLE

    _shown: tuple | None = None  # what the picture on screen was drawn from

    def feed(self, progress: Progress) -> None:
        """New data from training (kept for later frames; drawing waits for show)."""

    def show(self, frame: Frame) -> None:
        """Draw `frame` if what this panel draws from it has changed, and end the subtitle with
        its note: a redraw that changes another panel's view costs this one nothing."""
        shown = self.depends_on(frame)
        if not same(shown, self._shown):
            self._shown = shown
            self.draw(frame)
        self.set_note(frame.note)

    def depends_on(self, frame: Frame) -> tuple:
        """What of `frame` the picture is made from (reports compared by identity: new data
        is a new object)."""
        return (frame.step, frame.epoch, frame.probe)

    def draw(self, frame: Frame) -> None:
        """Draw the picture of `frame`."""
        raise NotImplementedError

    def clear(self) -> None:
        """A reset: forget everything fed so far (and what was drawn)."""
        self._shown = None


def same(a: tuple | None, b: tuple | None) -> bool:
    """Two depends_on tuples: the same objects, or equal plain values (numbers, strings)."""
    if a is None or b is None or len(a) != len(b):
        return False
    return all(x is y or (isinstance(x, (int, str)) and x == y) for x, y in zip(a, b))


class PanelScroll(VerticalScroll, inherit_bindings=False):
    """A scrolling area that takes focus (Tab) and scrolls with SCROLL_KEYS only."""

    BINDINGS = SCROLL_KEYS


class TextBlock(Static):
    """A Static for a table redrawn several times a second: the layout pass (which costs more
    than the redraw) runs only when the number of lines changes."""

    lines = 1

    def show(self, text: Text) -> None:
        lines = len(text.plain.splitlines())
        self.update(text, layout=lines != self.lines)
        self.lines = lines
