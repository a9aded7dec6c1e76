"""The Inspector panel: the probe sample (or a sequence the user types) position by
position: input token, target, prediction and its probability, the top alternatives,
right or wrong."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from engine.components.loss import IGNORE
from engine.training.reports import ProbeReport

from ..messages import SequenceChosen
from ..view import Frame
from .glyphs import probability
from .panel import Panel, PanelScroll, TextBlock


class SequenceInput(Input):
    """The line where a user types a sequence; escape hands the keys back to the lab."""

    BINDINGS = [Binding("escape", "leave", "back to the lab", show=False)]

    def action_leave(self) -> None:
        self.value = ""
        self.screen.set_focus(None)
        self.query_ancestor(InspectorPanel).show_error("")


class InspectorPanel(Panel, Vertical):
    """Predictions position by position (the table scrolls: Tab to it, then ↑/↓), and a line
    to type a sequence of one's own (always shown when there is room for it, else only while
    typing)."""

    TITLE = "Inspector"
    DEFAULT_CSS = """
    InspectorPanel PanelScroll { height: 1fr; scrollbar-size-vertical: 1; }
    InspectorPanel #inspector-error { height: auto; color: $error; display: none; }
    InspectorPanel SequenceInput { padding: 0 1; }
    """

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.label = lab.label
        self.example = lab.example
        self.probe: ProbeReport | None = None
        self.typed = False  # showing a typed sequence rather than the probe sample
        self._widest = (0, 0)  # (vocabulary size, the widest token label in it)

    def compose(self) -> ComposeResult:
        with PanelScroll(id="inspector-rows"):
            yield TextBlock(Text("no predictions yet", style="dim"), id="inspector-table")
        yield Static(id="inspector-error")
        yield SequenceInput(placeholder=f"t: type a sequence, e.g. {self.example}", compact=True, id="sequence")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Parse the typed line; a bad token is said under it, a good sequence goes to the lab."""
        event.stop()
        text = event.value.strip()
        if not text:
            self.post_message(SequenceChosen(None))
            return
        try:
            tokens = self.lab.parse(event.value)
        except ValueError as err:
            self.show_error(str(err))
            return
        typed, trained = tokens.shape[1], self.lab.seq_len
        if typed < trained and not self.lab.causal:  # a causal model reads prefixes
            text += f" (trained on length {trained}: shorter sequences are new to the model)"
        event.input.value = ""
        self.post_message(SequenceChosen(tokens, text))

    def on_resize(self) -> None:
        if self.probe is not None:
            self.redraw()  # the top-k columns follow the width
        self.fit_input()

    def on_descendant_focus(self) -> None:
        self.fit_input()

    def on_descendant_blur(self) -> None:
        self.fit_input()

    def fit_input(self) -> None:
        """Show the input line while typing, or when the table leaves room for it."""
        line = self.query_one(SequenceInput)
        line.display = line.has_focus or self.size.height > self.query_one("#inspector-table", TextBlock).lines

    def subtitle_prefix(self) -> str:
        return self.score() if self.probe is not None else ""

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.probe, frame.view.typed and frame.view.live)

    def draw(self, frame: Frame) -> None:
        if frame.probe is not None:
            self.show_probe(frame.probe, typed=frame.view.typed and frame.view.live)

    def show_probe(self, probe: ProbeReport, typed: bool) -> None:
        self.probe, self.typed = probe, typed
        self.show_error("")
        self.redraw()

    def redraw(self) -> None:
        self.query_one("#inspector-table", TextBlock).show(self.table())
        self.set_note()
        self.fit_input()

    def show_error(self, message: str) -> None:
        error = self.query_one("#inspector-error", Static)
        if str(error.content) != message:
            error.update(message)
            error.display = bool(message)

    def score(self) -> str:
        """'6/8 right' over the positions with a known target."""
        counted = self.probe.targets != IGNORE
        right = (self.probe.predictions == self.probe.targets) & counted
        source = "typed" if self.typed else "probe"
        return f"{int(right.sum())}/{int(counted.sum())} right ({source})"

    def widest(self, vocab_size: int) -> int:
        """The widest token label of the vocabulary (worked out once)."""
        if self._widest[0] != vocab_size:
            self._widest = (vocab_size, max(len(self.label(i)) for i in range(vocab_size)))
        return self._widest[1]

    def table(self) -> Text:
        """One row a position; as many of the top-3 alternatives as the width allows."""
        probe = self.probe
        w = self.widest(probe.probs.shape[-1])
        wi, wt, wp = max(w, 2), max(w, 6), max(w, 4)  # each column as wide as its header at least
        base = 3 + (2 + wi) + (2 + wt) + (2 + wp) + 6 + 3  # pos, in, target, pred, p, mark
        k = max(0, min(3, (self.size.width - 1 - base) // (w + 6)))  # 1: the scrollbar's column
        ids, probs = probe.top(max(k, 1))
        header = f"{'pos':>3}  {'in':>{wi}}  {'target':>{wt}}  {'pred':>{wp}}  {'p':>4}" + (f"  top-{k}" if k else "")
        text = Text(header + "\n", style="dim")
        for t, token in enumerate(probe.tokens):
            target, pred = int(probe.targets[t]), int(ids[t, 0])
            known, ok = target != IGNORE, target != IGNORE and pred == target
            text.append(f"{t:>3}  {self.label(int(token)):>{wi}}  {self.label(target):>{wt}}  ")
            text.append(f"{self.label(pred):>{wp}}", style="bold green" if ok else "bold red" if known else "")
            text.append(f"  {probs[t, 0]:.2f}")
            if k:
                top = (f"{self.label(int(i)):>{w}} {probability(p)}" for i, p in zip(ids[t, :k], probs[t, :k]))
                text.append("  " + "  ".join(top), style="dim")
            if known:
                text.append("  ✓" if ok else "  ✗", style="green" if ok else "red")
            text.append("\n")
        text.rstrip()
        return text
