"""The help screen: every key of the lab, grouped."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from .modal import ScrollingModal

KEYS = [
    ("training", [
        ("space", "run / pause"),
        ("n", "train to the end of the epoch, then pause"),
        ("s", "one optimizer step"),
        ("r", "reset to a fresh model (asks first)"),
        ("- / + =", "halve / double the learning rate from the next step on (1/1024 to 1024 times the "
                    "schedule's; the status line shows the factor, checkpoints keep it)"),
    ]),
    ("looking back", [
        ("← / →", "step back and forth through the recorded epochs, each with its learning rate "
                  "(any training key returns to live)"),
    ]),
    ("loss curves", [
        ("m", "smooth the training curves (a moving average; the raw curve faint behind it), or not"),
        ("y", "a linear loss axis, or back to the log one"),
    ]),
    ("attention", [
        ("[ / ]", "previous / next layer"),
        ("h / H", "next / previous head"),
        ("a", "all heads of the layer"),
        ("v", "numbers instead of shades"),
        ("c", "one row computed: a query's scores q·k/√D, the mask and the softmax weights, as numbers"),
        (", / .", "previous / next query position of that row"),
    ]),
    ("inside the model", [
        ("o", "heads table: each head's entropy and its history, its pattern, and the model without it"),
        ("k", "knock the shown head out of the analysis, or put it back (training always uses every head)"),
        ("l", "logit lens in the inspector: the prediction read out after each layer"),
        ("e", "embedding space in place of the loss curves: every token's embedding by PCA"),
        ("E", "embedding space of the probe's positions (embedding + positional encoding)"),
    ]),
    ("panels", [
        ("tab / shift+tab", "focus the next / previous panel that scrolls (its border lights up)"),
        ("↑ ↓ pgup pgdn home end", "scroll the focused panel (none focused: pgup / pgdn scroll the gradients)"),
    ]),
    ("inspector", [
        ("t", "type a sequence to look at (enter: show it, escape: back)"),
        ("p", "back to the probe sample"),
    ]),
    ("samples", [
        ("x", "what a causal model (the text task) writes after the prompt, in place of the loss curves; "
              "each epoch's end writes one, kept for replay"),
        ("< / >", "lower / raise the temperature (0 greedy, 0.5, 0.8, 1.0, 1.2, 1.5) and write again"),
        ("z", "write again now with a fresh seed (the seed of each epoch's end from then on)"),
        ("t / p", "the typed sequence is the prompt / the probe sample again"),
    ]),
    ("tools", [
        ("g", "gradient check of the current model against finite differences (pauses training)"),
        ("b / B", "in the gradient check: plant the next / previous classic backprop bug and check again"),
        ("w", "save a checkpoint (to --save; else tfnp-checkpoint.npz, or the first free name beside it); "
              "with --save FILE each new best epoch also goes to FILE.best.npz as it ends"),
        ("ctrl+s", "save an SVG screenshot"),
        ("?", "this help"),
        ("q", "quit (with --save: save first; says on the way out whether the training was saved)"),
    ]),
]  # fmt: skip


MARKERS = (
    "gradient norms: [bold red]▲ exploding[/] above 1e3 or not finite, [bold yellow]▼ vanishing[/] below 1e-8 "
    "or below rounding noise (shown as ≈0), "
    "[dim]○ zero by design[/]: the attention key bias, whose gradient is exactly 0 (softmax ignores a constant "
    "added to a whole row of scores; docs/backprop.md).\n"
    "upd/w: the size of the last update over the size of the weights (about 1e-3 is healthy). A bias that "
    "starts at zero reads 1e+00 after the first step: any step is as large as a weight that was 0."
)


def keys_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for group, rows in KEYS:
        table.add_row(f"[dim]{group}[/]", "")
        for key, what in rows:
            table.add_row(key, what)
    return table


class HelpScreen(ScrollingModal):
    """Every key, grouped; any of escape, q or ? closes it."""

    BOX_TITLE = "Keys"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def body(self) -> ComposeResult:
        yield Static(keys_table())
        yield Static(f"\n{MARKERS}")
