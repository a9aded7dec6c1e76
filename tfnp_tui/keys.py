"""The lab's keys: what each one does is an action of the App (tfnp_tui/app.py); the help
screen (screens/help.py) explains them all. A focused panel's own scroll keys
(widgets/panel.py: SCROLL_KEYS) come before these."""

from textual.binding import Binding

BINDINGS = [
    Binding("space", "run_pause", "run/pause"),
    Binding("n", "train('epoch')", "epoch"),
    Binding("s", "train('step')", "step"),
    Binding("left", "replay(-1)", "replay", key_display="←/→"),
    Binding("right", "replay(1)", "replay", show=False),
    Binding("g", "gradcheck", "gradcheck"),
    Binding("w", "save", "save"),
    Binding("ctrl+s", "screenshot", "screenshot", priority=True, show=False),  # listed under ?
    Binding("question_mark", "help", "help", key_display="?"),
    Binding("q", "quit", "quit"),
    Binding("r", "reset", "reset", show=False),
    Binding("minus", "scale_lr(0.5)", "lr ÷2", show=False),
    Binding("plus", "scale_lr(2)", "lr ×2", show=False),
    Binding("equals_sign", "scale_lr(2)", "lr ×2", show=False),  # + without shift on most keyboards
    Binding("left_square_bracket", "layer(-1)", "layer", show=False),
    Binding("right_square_bracket", "layer(1)", "layer", show=False),
    Binding("h", "head(1)", "head", show=False),
    Binding("H", "head(-1)", "head", show=False),
    Binding("a", "toggle('all_heads')", "all heads", show=False),
    Binding("v", "toggle('values')", "values", show=False),
    Binding("c", "toggle('row')", "one row computed", show=False),
    Binding("comma", "query(-1)", "query row", show=False),
    Binding("full_stop", "query(1)", "query row", show=False),
    Binding("o", "toggle('heads_table')", "heads", show=False),
    Binding("k", "knock_out", "knock out", show=False),
    Binding("e", "toggle('embeddings')", "embeddings", show=False),
    Binding("E", "embedding_positions", "positions", show=False),
    Binding("l", "toggle('lens')", "logit lens", show=False),
    Binding("t", "type_sequence", "type", show=False),
    Binding("p", "probe_sample", "probe", show=False),
    Binding("m", "loss_curves('smooth_loss')", "smoothing", show=False),
    Binding("y", "loss_curves('linear_loss')", "log/linear", show=False),
    Binding("x", "toggle('samples')", "samples", show=False),
    Binding("less_than_sign", "temperature(-1)", "temperature", show=False),
    Binding("greater_than_sign", "temperature(1)", "temperature", show=False),
    Binding("z", "sample_again", "sample again", show=False),
    Binding("pagedown", "scroll_gradients(1)", "scroll gradients", show=False),  # with no panel focused
    Binding("pageup", "scroll_gradients(-1)", "scroll gradients", show=False),
]
