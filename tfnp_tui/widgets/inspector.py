"""The Inspector panel: the probe sample (or a sequence the user types) position by
position, in one of two tables.

Predictions: input token, target, the prediction and its probability, the loss at the
position (-ln p(target) in nats, the cross-entropy the training minimises there; '-' where the
target is unknown; the largest is bold and marked ▲: the hardest position), the top
alternatives when there is room, right or wrong (✓/✗).

Logit lens (key l): what the model would predict if it stopped after each layer. Each
layer's output is read out as if it were the last (ProbeReport.lens: through the final ln_f
of a pre-LN model, as is for a post-LN model whose LN2 has just normalised it, then the
head), so a cell shows the top prediction after that layer, the probability it gives the
target, and ✓ or ✗. The last layer's read-out is the model's output itself ('L2 out'). Read a
row left to right to see where the answer forms; a row of ✗ until the last layer means the
last layer does the work.
"""

from __future__ import annotations

import textwrap

import numpy as np
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
    """Predictions or the logit lens position by position (the table scrolls: Tab to it, then
    ↑/↓), and a line to type a sequence of one's own (always shown when there is room for it,
    else only while typing)."""

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
        self.lens = False  # the logit lens rather than the predictions
        self.lab_pre_ln = "ln_f.gamma" in lab.param_names  # pre-LN models have a final LayerNorm
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
            self.redraw()  # the runners-up and the lens's layers follow the width
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
        if self.lens:  # the count of right answers is the table's last row, layer by layer
            return "logit lens (typed)" if self.typed else "logit lens"
        return self.score() if self.probe is not None else ""

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.probe, frame.view.typed and frame.view.live, frame.view.lens)

    def draw(self, frame: Frame) -> None:
        self.lens = frame.view.lens
        if frame.probe is not None:
            self.show_probe(frame.probe, typed=frame.view.typed and frame.view.live)
        else:
            self.set_note()

    def show_probe(self, probe: ProbeReport, typed: bool) -> None:
        self.probe, self.typed = probe, typed
        self.show_error("")
        self.redraw()

    def redraw(self) -> None:
        self.query_one("#inspector-table", TextBlock).show(self.table())
        n_layers = len(self.probe.lens)
        hidden = n_layers - self.lens_shown() if self.lens else 0
        title = f"{self.TITLE} · {hidden_layers(hidden)} of {n_layers} hidden" if hidden else self.TITLE
        if title != self.border_title:  # setting it repaints the whole panel
            self.border_title = title
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

    @property
    def room(self) -> int:
        """The columns a line may take (one is kept for the scrollbar)."""
        return max(self.size.width - 1, 1)

    def table(self) -> Text:
        return self.lens_table() if self.lens else self.predictions()

    def predictions(self) -> Text:
        """One row a position: input, target, prediction and its probability, the loss at the
        position (the largest marked ▲), the runners-up (2nd and 3rd most probable) as the
        width allows, right or wrong."""
        probe = self.probe
        w = self.widest(probe.probs.shape[-1])
        wi, wt, wp = max(w, 2), max(w, 6), max(w, 4)  # each column as wide as its header at least
        base = 3 + (2 + wi) + (2 + wt) + (2 + wp) + (2 + 3) + (2 + 4 + 1) + 2  # pos in target pred p loss▲ ✓
        k = max(0, min(2, (self.room - base) // (w + 6)))  # runners-up shown
        ids, probs = probe.top(1 + k)  # (T, 1 + k) each: the prediction, then the runners-up
        losses = probe.losses  # (T,) nats, nan where the target is unknown
        counted = ~np.isnan(losses)
        hardest = losses[counted].max() if counted.any() else None  # the hardest position(s): ▲
        header = f"{'pos':>3}  {'in':>{wi}}  {'target':>{wt}}  {'pred':>{wp}}    p  loss "
        header += ("", "  top 2", "  top 2-3")[k]
        text = Text(header + "\n", style="dim")
        for t, token in enumerate(probe.tokens):
            target, pred = int(probe.targets[t]), int(ids[t, 0])
            known, ok = target != IGNORE, target != IGNORE and pred == target
            text.append(f"{t:>3}  {self.label(int(token)):>{wi}}  {self.label(target):>{wt}}  ")
            text.append(
                f"{self.top_label(probe.probs[t], pred):>{wp}}",
                style="bold green" if ok else "bold red" if known else "",
            )
            text.append(f"  {chance(probs[t, 0])}  ")
            worst = known and losses[t] == hardest
            text.append(f"{nats(losses[t]) if known else '-':>4}", style="bold" if worst else "" if known else "dim")
            text.append("▲" if worst else " ", style="bold red")
            if k:
                top = (f"{self.label(int(i)):>{w}} {chance(p)}" for i, p in zip(ids[t, 1:], probs[t, 1:]))
                text.append("  " + "  ".join(top), style="dim")
            if known:
                text.append(" ✓" if ok else " ✗", style="green" if ok else "red")
            text.append("\n")
        text.rstrip()
        return text

    def lens_table(self) -> Text:
        """The logit lens: a row a position, a cell a layer (the top prediction read out after
        it, the target's probability, right or wrong); the last layer is the model's output.
        Layers that do not fit are left out from the first on, and said so."""
        probe = self.probe
        L = len(probe.lens)
        w, wi, wt, cell, lead = self.lens_widths()
        shown = self.lens_shown()
        reads = {i: probe.lens[i] for i in range(L - shown, L - 1)} | {L - 1: probe.probs}  # (T, V) each
        text = Text(f"{'pos':>3}  {'in':>{wi}}  {'target':>{wt}} ", style="dim")
        for i in reads:
            name = f"L{i + 1} out" if i == L - 1 and len(f"L{i + 1} out") <= cell else f"L{i + 1}"
            text.append(" " + name.ljust(cell), style="dim bold" if i == L - 1 else "dim")
        for t, token in enumerate(probe.tokens):
            target = int(probe.targets[t])
            text.append(f"\n{t:>3}  {self.label(int(token)):>{wi}}  {self.label(target):>{wt}} ")
            for i, read in reads.items():
                text.append(" ")
                text.append_text(self.lens_cell(read[t], target, w, out=i == L - 1))
        text.append_text(self.lens_right(reads, lead, cell))
        text.append_text(self.lens_notes(L, shown))
        return text

    def lens_widths(self) -> tuple[int, int, int, int, int]:
        """The lens's widths: a label, the 'in' and 'target' columns, a layer's cell (pred, a
        space, p(target) as .97, the mark), and all before the first cell."""
        w = max(self.widest(self.probe.lens.shape[-1]), 1)
        wi, wt, cell = max(w, 2), max(w, 6), w + 5
        return w, wi, wt, cell, 3 + (2 + wi) + (2 + wt) + 1  # pos, in, target, a space more

    def lens_shown(self) -> int:
        """How many layers the lens has room for (cells one space apart; the last always)."""
        *_, cell, lead = self.lens_widths()
        return max(1, min(len(self.probe.lens), (self.room - lead) // (1 + cell)))

    def lens_right(self, reads: dict[int, np.ndarray], lead: int, cell: int) -> Text:
        """'right 2/8 5/8 8/8': how many positions each shown layer gets right (nothing when no
        target is known)."""
        known = self.probe.targets != IGNORE  # (T,)
        if not known.any():
            return Text()
        text = Text("\n" + "right".rjust(lead), style="dim")
        for read in reads.values():
            right = int((read.argmax(axis=-1) == self.probe.targets)[known].sum())
            text.append(" " + f"{right}/{int(known.sum())}".ljust(cell))
        return text

    def lens_cell(self, read: np.ndarray, target: int, w: int, out: bool) -> Text:
        """read (V,) -> '13 .81✓': the top prediction, the target's probability, right or wrong."""
        pred = int(read.argmax())
        if target == IGNORE:
            return Text(f"{self.top_label(read, pred):>{w}}   - ", style="bold" if out else "")
        ok = pred == target
        cell = Text(f"{self.top_label(read, pred):>{w}} {chance(read[target])}", style="bold" if out else "")
        cell.append("✓" if ok else "✗", style="green" if ok else "red")
        return cell

    def top_label(self, probs: np.ndarray, top: int) -> str:
        """probs (V,) -> the label of its most probable token `top`; '?' when they are not numbers."""
        return self.label(top) if np.isfinite(probs).all() else "?"

    def lens_notes(self, n_layers: int, shown: int) -> Text:
        """The dim lines under the lens: how to read a cell, the layers left out, the read-out."""
        if self.lab_pre_ln:
            read = "read out: each layer's output through ln_f and the head (pre-LN)"
        else:
            read = "read out: each layer's output, already normalised by its LN2, through the head (post-LN)"
        lines = ["cell: top prediction after the layer, p(target), ✓/✗"]
        if n_layers > shown:
            lines.append(f"{hidden_layers(n_layers - shown)} of {n_layers} hidden: a wider panel shows more")
        lines.append(read)
        wrapped = [part for line in lines for part in textwrap.wrap(line, self.room)]
        return Text("".join("\n" + line for line in wrapped), style="dim")


def chance(p: float) -> str:
    """A probability in three characters (.97, 1.0), 'nan' when it is not a number."""
    return probability(p) if np.isfinite(p) else "nan"


def nats(loss: float) -> str:
    """A loss in nats in at most 4 characters: 2.31, 12.3, 123, inf, nan."""
    if not np.isfinite(loss):
        return "nan" if np.isnan(loss) else "inf"  # inf: p(target) is 0 in float64
    return f"{loss:.2f}" if loss < 9.995 else f"{loss:.1f}" if loss < 99.95 else f"{loss:.0f}"


def hidden_layers(n: int) -> str:
    """The first n layers, as the lens says it left them out: 'L1', 'L1-3'."""
    return "L1" if n == 1 else f"L1-{n}"
