"""The lab: the App, its keys, the training worker, and the routing of reports to panels.

Training runs in a thread worker that only computes and posts plain reports (at most
UPDATE_HZ a second, however fast the steps are); the UI thread never trains. A lock
serialises everything that touches the trainer (a step, a save, a gradient check's copy
of the model), and every message carries the generation of the trainer that sent it, so a
reset can never mix two runs.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from engine import checkpoint
from engine.checkpoint import CheckpointError
from engine.gradcheck import check_model
from engine.model import TransformerEncoder
from engine.reports import ProbeReport
from engine.trainer import Trainer, TrainingDiverged

from .cli import PROG, Setup
from .describe import model_summary
from .history import History, capacity_for
from .messages import GradcheckDone, Probed, Progress, Saved, Stopped
from .metrics import MetricsError, header_record
from .numbers import loss_text, plural
from .screens.confirm import ConfirmScreen
from .screens.gradcheck import GradcheckScreen
from .screens.help import HelpScreen
from .widgets.attention import AttentionPanel
from .widgets.gradients import GradientPanel
from .widgets.inspector import InspectorPanel
from .widgets.loss import LossPanel
from .widgets.status import StatusLine

UPDATE_HZ = 10  # reports the worker sends per second while training, whatever the step rate
PANEL_HZ = 4  # at most this many redraws of the four panels a second (the status line follows every report)
UI_SHARE = 0.08  # ...and fewer when drawing takes more than this share of the time: the GIL is the trainer's
MIN_SIZE = (80, 24)


class TfnpLab(App):
    """Train the Transformer and watch it learn."""

    TITLE = "tfnp-tui"
    CSS_PATH = "app.tcss"
    AUTO_FOCUS = None  # keys go to the lab, not to the inspector's input line
    ENABLE_COMMAND_PALETTE = False  # every action has its own key, all listed under ?
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
        Binding("left_square_bracket", "layer(-1)", "layer", show=False),
        Binding("right_square_bracket", "layer(1)", "layer", show=False),
        Binding("h", "head(1)", "head", show=False),
        Binding("H", "head(-1)", "head", show=False),
        Binding("a", "overview", "all heads", show=False),
        Binding("v", "values", "values", show=False),
        Binding("t", "type_sequence", "type", show=False),
        Binding("p", "probe_sample", "probe", show=False),
        Binding("pagedown", "scroll_gradients(1)", "scroll gradients", show=False),
        Binding("pageup", "scroll_gradients(-1)", "scroll gradients", show=False),
    ]

    def __init__(self, setup: Setup) -> None:
        super().__init__()
        self.setup = setup
        self.trainer = setup.trainer
        self.save_path = setup.lab_save_path()
        self.saved_step = self.trainer.step_count  # the step the newest checkpoint holds
        self.quit_unsaved = False  # q once failed to save: the next q quits all the same
        self.exit_lines: list[str] = []  # said on stdout once the lab has closed
        self.metrics = setup.metrics_log()  # MetricsError when the file cannot be continued
        self.lock = threading.Lock()  # held while anything reads or changes the trainer
        self.generation = 0
        self.history = History(capacity_for(self.trainer.model))
        self.view: int | None = None  # None: live; else the epoch being replayed
        self.live: Progress | None = None  # the newest report
        self.live_probe: ProbeReport | None = None  # the newest look at the probe or typed sequence
        self.probe_tokens: np.ndarray | None = None  # a typed sequence, or None for the probe sample
        self.show_rate = True  # tests turn the steps/s figure off for stable snapshots
        self._rate_mark: tuple[float, int] | None = None
        self._last_draw = 0.0  # when the panels were last redrawn
        self._panel_interval = 1 / PANEL_HZ  # seconds between panel redraws while training, adapted
        self._cpu_mark = (time.monotonic(), time.thread_time())  # the UI thread's clock, for its share
        self._terminal_size = (0, 0)  # as the newest resize said

    # ------------------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        t, task = self.trainer, self.trainer.task
        yield StatusLine(t.train_cfg.task, f"{t.train_cfg.optimizer}", model_summary(t), id="status")
        with Grid(id="panels"):
            yield LossPanel(id="loss", classes="panel")
            yield AttentionPanel(task.label, t.model_cfg.n_layers, t.model_cfg.n_heads, id="attention", classes="panel")
            eps = float(np.finfo(t.model_cfg.dtype).eps)
            yield GradientPanel(list(t.model.params), eps, id="gradients", classes="panel")
            yield InspectorPanel(task.label, typing_example(task), id="inspector", classes="panel")
        yield Static(id="too-small")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        for panel in self.query(".panel"):
            panel.set_note("live")
        self.status.lr = self.trainer.train_cfg.lr
        self.status.epoch, self.status.step = self.trainer.epoch, self.trainer.step_count
        if self.setup.loaded:
            self.status.say(f"loaded {self.setup.loaded.path} at step {self.trainer.step_count}")
        self.check_size(self.size.width, self.size.height)
        self.show_view()
        self.probe_now()

    def on_resize(self, event) -> None:
        self.check_size(event.size.width, event.size.height)  # the event's size: self.size may lag

    @property
    def too_small(self) -> bool:
        return self.screen_stack[0].has_class("too-small")

    def check_size(self, width: int, height: int) -> None:
        """Fit the panels to the terminal, or ask for a larger one."""
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        if small != self.too_small:
            self.screen_stack[0].set_class(small, "too-small")  # the lab's screen, under any open box
            self.refresh_bindings()  # check_action's answers changed: the footer follows
        panels = height - 3  # status line and footer
        heatmap = self.trainer.model_cfg.seq_len + 3  # a row per position, the key labels, the borders
        top = max(10, min(panels - 11, max(round(panels * 0.44), heatmap)))  # the bottom row holds long lists
        self.query_one("#panels").styles.grid_rows = f"{top} 1fr"
        self._terminal_size = (width, height)
        self.say_enlarge()

    def say_enlarge(self) -> None:
        if self.too_small:
            width, height = self._terminal_size
            state = "training runs: space pauses" if self.training else "paused: space runs"
            self.query_one("#too-small", Static).update(
                f"Enlarge the terminal to at least {MIN_SIZE[0]}x{MIN_SIZE[1]} (it is {width}x{height})\n"
                f"{state} · q quits"
            )

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Behind the 'enlarge' message only space and q act: nothing changes unseen."""
        if self.too_small and action not in ("run_pause", "quit"):
            return False
        return True

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    # ---------------------------------------------------------------------- the training worker
    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def train(self, mode: str) -> None:
        """Step until paused (run), to the end of the epoch (epoch) or once (step)."""
        worker, generation, trainer = get_current_worker(), self.generation, self.trainer
        stop_when_finished = mode == "run" and not trainer.finished
        losses, epochs, last_post, report = [], [], 0.0, None
        try:
            while not worker.is_cancelled:
                with self.lock:
                    if generation != self.generation:
                        return
                    report = trainer.step()
                losses.append(report.loss)
                if report.epoch_report is not None:
                    epochs.append(report.epoch_report)
                done = (
                    mode == "step"
                    or (mode == "epoch" and report.epoch_report is not None)
                    or (stop_when_finished and trainer.finished)
                )
                if done or time.monotonic() - last_post >= 1 / UPDATE_HZ:
                    self.post_progress(generation, report, losses, epochs, final=done)
                    losses, epochs, last_post = [], [], time.monotonic()
                if done:
                    if stop_when_finished and trainer.finished:
                        msg = f"trained the {trainer.train_cfg.epochs} epochs asked for; space trains on"
                        self.post_message(Stopped(generation, "finished", msg))
                    return
        except TrainingDiverged as err:
            short = f"diverged at step {err.step}: {err.what} · paused with the last good parameters · ? help"
            self.post_message(Stopped(generation, "diverged", f"diverged at {err}", short))
        except Exception as err:  # shown in the app, never as a traceback
            self.post_message(Stopped(generation, "error", f"training failed: {type(err).__name__}: {err}"))
        finally:
            if losses and report is not None:  # paused between two updates: show where it stopped
                self.post_progress(generation, report, losses, epochs, final=True)

    def post_progress(self, generation: int, report, losses: list, epochs: list, final: bool) -> None:
        with self.lock:
            if generation != self.generation:
                probe = None
            elif self.probe_tokens is None and report.epoch_report is not None:
                probe = report.epoch_report.probe  # the epoch's end looked at the probe sample already
            else:
                probe = self.trainer.probe(self.probe_tokens)
        self.post_message(Progress(generation, report, losses, epochs, probe, final))

    @property
    def training(self) -> bool:
        """A training worker is pending or running and has not been told to stop."""
        return any(
            w.group == "train" and w.state in (WorkerState.PENDING, WorkerState.RUNNING) and not w.is_cancelled
            for w in self.workers
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Running or paused follows the training worker's own state."""
        if event.worker.group == "train":
            self.status.running = self.training
            if not self.status.running:
                self._rate_mark = None
            self.say_enlarge()  # which of the two it says

    # ------------------------------------------------------------------------ reports in
    def on_progress(self, msg: Progress) -> None:
        if msg.generation != self.generation:
            return
        self.live = msg
        if msg.probe is not None:
            self.live_probe = msg.probe
        self.history.extend(msg.epochs)
        self.query_one(LossPanel).add(msg.losses, msg.epochs)
        self.query_one(GradientPanel).add_epochs(msg.epochs)
        status = self.status
        status.epoch, status.step, status.loss, status.lr = msg.step.epoch, msg.step.step, msg.step.loss, msg.step.lr
        self.update_rate(msg.step.step)
        self.log_metrics(msg.epochs)
        if msg.epochs:
            e = msg.epochs[-1]
            status.say(f"epoch {e.epoch}: loss {loss_text(e.loss)}  acc {100 * e.acc:.1f}%  "
                       f"val_loss {loss_text(e.val_loss)}  val_acc {100 * e.val_acc:.1f}%", routine=True)  # fmt: skip
        self.adapt_panel_interval()
        if self.view is None and (msg.final or time.monotonic() - self._last_draw >= self._panel_interval):
            self.show_view()
        elif self.view is not None and msg.epochs:
            self.set_notes(self.replay_note(self.view))  # "epoch 3 of N": N grows while training runs

    def log_metrics(self, epochs: list) -> None:
        """--metrics-out: a JSON line per epoch; a file that cannot be written is said once."""
        try:
            for report in epochs if self.metrics else []:
                self.metrics.write(report)
        except MetricsError as err:
            message = f"{err}; metrics are off"
            self.status.say(message, "error")
            self.notify(message, title="metrics", severity="error", timeout=8)
            self.metrics = None

    def on_unmount(self) -> None:
        if self.metrics:
            try:
                self.metrics.close()
            except MetricsError as err:  # the screen is gone: said after the lab closes
                self.exit_lines.append(f"{PROG}: warning: {err}")

    def adapt_panel_interval(self) -> None:
        """Once a second: redraw the panels less often if the UI thread used more than UI_SHARE
        of the time (it holds the GIL the trainer needs), more often if it used less."""
        now, cpu = time.monotonic(), time.thread_time()
        then, cpu_then = self._cpu_mark
        if now - then >= 1.0:
            share = (cpu - cpu_then) / (now - then)
            interval = self._panel_interval * min(max(share / UI_SHARE, 0.5), 2.0)
            self._panel_interval = min(max(interval, 1 / PANEL_HZ), 2.0)
            self._cpu_mark = (now, cpu)

    def update_rate(self, step: int) -> None:
        now = time.monotonic()
        if self._rate_mark is not None and now > self._rate_mark[0]:
            then, first = self._rate_mark
            if now - then > 0.5:
                self.status.rate = (step - first) / (now - then) if self.show_rate else float("nan")
                self._rate_mark = (now, step)
        else:
            self._rate_mark = (now, step)

    def on_stopped(self, msg: Stopped) -> None:
        if msg.generation == self.generation:
            self.status.say(msg.short or msg.reason, "information" if msg.kind == "finished" else "error")
            if msg.kind != "finished":  # the whole story, where it has room
                self.notify(msg.reason, title="training stopped", severity="error", timeout=12)

    def on_probed(self, msg: Probed) -> None:
        if msg.generation == self.generation:
            self.live_probe = msg.probe
            if self.view is None:
                self.show_probe(msg.probe, typed=self.probe_tokens is not None)

    def on_saved(self, msg: Saved) -> None:
        if msg.error:
            self.status.say(f"could not save: {msg.error}", "error")
            self.notify(msg.error, title="could not save", severity="error", timeout=8)
        else:
            if msg.generation == self.generation:
                self.saved_step = msg.step
            self.status.say(f"saved {msg.path} (step {msg.step})")

    def on_gradcheck_done(self, msg: GradcheckDone) -> None:
        r = msg.report
        verdict = "all pass" if r.passed else f"{r.failed} FAIL"
        self.status.say(f"gradient check: {verdict}, worst error {r.max_rel_error:.1e} ({r.seconds:.1f}s)",
                        "information" if r.passed else "error")  # fmt: skip
        if isinstance(self.screen, GradcheckScreen):
            self.screen.show(r, msg.step)

    # ------------------------------------------------------------------------- the view
    def show_view(self) -> None:
        """Point every panel at the live state or at the replayed epoch, and say which."""
        self._last_draw = time.monotonic()
        gradients, loss = self.query_one(GradientPanel), self.query_one(LossPanel)
        report = self.history.get(self.view) if self.view is not None else None
        if report is not None:
            note = self.replay_note(report.epoch)
            self.show_probe(report.probe, typed=False)
            gradients.show_epoch(report)
            loss.show(report.epoch)
        else:
            self.view = None
            note = "live"
            if self.live_probe is not None:
                self.show_probe(self.live_probe, typed=self.probe_tokens is not None)
            if self.live is not None:
                gradients.show_step(self.live.step.grad_norms, self.live.step.update_ratios)
            loss.show(None)
        self.set_notes(note)

    def show_probe(self, probe, typed: bool) -> None:
        """The Attention and Inspector panels look at `probe` (a ProbeReport)."""
        self.query_one(AttentionPanel).probe = probe
        self.query_one(InspectorPanel).show(probe, typed=typed)

    def replay_note(self, epoch: int) -> str:
        return f"epoch {epoch} of {self.history.last_epoch} (replay)"

    def set_notes(self, note: str) -> None:
        """Each panel's subtitle: "live", or which epoch it replays."""
        for panel in self.query(".panel"):
            if panel.note != note:
                panel.set_note(note)

    def action_replay(self, delta: int) -> None:
        if not len(self.history):
            self.status.say("no epochs recorded yet: train one with n", "warning")
            return
        self.view = self.history.neighbour(self.view, delta)
        self.show_view()
        if self.view is None:
            self.status.say("live")
        else:
            last = self.history.last_epoch
            self.status.say(f"replaying epoch {self.view} of {last}: ←/→ move, a training key returns to live")

    # ------------------------------------------------------------------------- training keys
    def go_live(self) -> None:
        if self.view is not None:
            self.view = None
            self.show_view()

    def action_run_pause(self) -> None:
        self.go_live()
        if self.training:  # not status.running: that follows a message, a quick second press may beat it
            self.workers.cancel_group(self, "train")
            self.status.say("paused")
        else:
            self.status.say("running: space pauses")
            self.train("run")

    def action_train(self, mode: str) -> None:
        self.go_live()
        self.status.say("one step" if mode == "step" else "training to the end of the epoch")
        self.train(mode)

    def action_reset(self) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self.reset()

        also = f" {self.metrics.path} starts afresh." if self.metrics else ""
        self.push_screen(ConfirmScreen(f"Reset to a fresh model? Training so far is dropped.{also}"), answer)

    def reset(self) -> None:
        self.workers.cancel_group(self, "train")
        with self.lock:
            self.generation += 1
            old = self.trainer
            self.trainer = Trainer(old.model_cfg, old.train_cfg, task=old.task)
        self.history.clear()
        self.saved_step = 0
        if self.metrics:
            self.metrics.restart(header_record(self.trainer))  # a new run, a new file
        self.live, self.live_probe, self.view = None, None, None
        self.query_one(LossPanel).clear()
        self.query_one(GradientPanel).clear()
        status = self.status
        status.epoch, status.step, status.loss = 0, 0, float("nan")
        status.say(f"reset: a fresh model (seed {self.trainer.train_cfg.seed})")
        self.show_view()
        self.probe_now()

    # ---------------------------------------------------------------------------- attention
    def action_layer(self, delta: int) -> None:
        self.query_one(AttentionPanel).move_layer(delta)

    def action_head(self, delta: int) -> None:
        self.query_one(AttentionPanel).move_head(delta)

    def action_overview(self) -> None:
        panel = self.query_one(AttentionPanel)
        panel.overview = not panel.overview

    def action_values(self) -> None:
        panel = self.query_one(AttentionPanel)
        panel.values = not panel.values

    def action_scroll_gradients(self, direction: int) -> None:
        panel = self.query_one(GradientPanel)
        panel.scroll_relative(y=direction * max(panel.size.height - 2, 1), animate=False)

    # ---------------------------------------------------------------------------- inspector
    def action_type_sequence(self) -> None:
        line = self.query_one("#sequence", Input)
        line.display = True
        self.screen.set_focus(line)  # at once (focus() waits a turn): the next key is already typed

    def action_probe_sample(self) -> None:
        self.probe_tokens = None
        self.status.say("inspector: the probe sample")
        self.probe_now()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        inspector = self.query_one(InspectorPanel)
        if not text:
            self.action_probe_sample()
        else:
            try:
                self.probe_tokens = self.trainer.task.parse(event.value)
            except ValueError as err:
                inspector.show_error(str(err))
                return
            typed, trained = self.probe_tokens.shape[1], self.trainer.model_cfg.seq_len
            shorter = typed < trained and not self.trainer.task.needs_causal  # a causal model reads prefixes
            new = f" (trained on length {trained}: shorter sequences are new to the model)" if shorter else ""
            self.status.say(f"inspector: {text}{new}")
        event.input.value = ""
        self.set_focus(None)
        self.go_live()
        self.probe_now()

    @work(thread=True, group="probe", exit_on_error=False)
    def probe_now(self) -> None:
        """Look at the probe (or typed) sequence now, without waiting for training."""
        with self.lock:
            generation, probe = self.generation, self.trainer.probe(self.probe_tokens)
        self.post_message(Probed(generation, probe))

    # -------------------------------------------------------------------------------- tools
    def action_gradcheck(self) -> None:
        if self.training:
            self.workers.cancel_group(self, "train")  # the check needs the CPU, and a model that holds still
            self.status.say("training paused for the gradient check")
        self.push_screen(GradcheckScreen())
        self.gradcheck()

    @work(thread=True, group="gradcheck", exclusive=True, exit_on_error=False)
    def gradcheck(self) -> None:
        with self.lock:  # a copy of the parameters as they are now: the check never touches the trainer
            t = self.trainer
            params, step = t.model.params_numpy(), t.step_count
        model = TransformerEncoder(t.model_cfg, params=params)
        tokens, targets = t.task.train_tokens[:2], t.task.train_targets[:2]
        max_entries = max(4, min(32, 3000 // len(model.params)))
        self.post_message(GradcheckDone(check_model(model, tokens, targets, max_entries=max_entries), step))

    def action_save(self) -> None:
        path = os.path.abspath(self.save_path)
        self.status.say(f"saving {path}…")
        self.save_checkpoint(path)

    @work(thread=True, group="save", exit_on_error=False)
    def save_checkpoint(self, path: str) -> None:
        try:
            with self.lock:
                checkpoint.save(path, self.trainer)
                generation, step = self.generation, self.trainer.step_count
        except CheckpointError as err:
            self.post_message(Saved(path, 0, str(err)))
            return
        self.post_message(Saved(path, step, generation=generation))

    async def action_quit(self) -> None:
        """Quit; with --save, save first (a failed save keeps the lab open, once). What
        happened is said on stdout after the lab closes."""
        if self.setup.save and not self.quit_unsaved:
            self.workers.cancel_group(self, "train")
            try:
                with self.lock:
                    checkpoint.save(self.save_path, self.trainer)
                    step = self.trainer.step_count
            except CheckpointError as err:
                self.quit_unsaved = True
                self.status.say(f"not saved, q again quits without saving: {err}", "error")
                self.notify(f"{err}\nq again quits without saving", title="could not save", severity="error")
                return
            self.exit_lines.append(f"saved {self.save_path} (step {step})")
        elif self.trainer.step_count != self.saved_step:
            trained = plural(self.trainer.step_count - self.saved_step, "step")
            since = "the last save" if self.saved_step else "the start"
            how = (f"{self.save_path} could not be written" if self.quit_unsaved
                   else "w saves in the lab; --save FILE also saves on quit")  # fmt: skip
            self.exit_lines.append(f"not saved: {trained} trained since {since} ({how})")
        self.exit()

    def action_screenshot(self) -> None:
        name = f"tfnp-screenshot-{time.strftime('%Y%m%d-%H%M%S')}.svg"
        try:
            path = self.save_screenshot(filename=name, path=os.getcwd())
        except OSError as err:
            self.status.say(f"could not save the screenshot: {err.strerror or err}", "error")
            return
        self.status.say(f"screenshot saved: {path}")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def typing_example(task) -> str:
    """The start of the probe sample, as a user would type it."""
    tokens = task.val_tokens[0][:8]
    if task.chars is None:
        return " ".join(map(str, tokens[:4]))
    typed = "".join(task.chars[i] if task.chars[i].isprintable() else " " for i in tokens).strip()
    return typed or "abc"


def run_lab(setup: Setup) -> int:
    """Start the lab; its exit status. What quitting did (saved, or not) is said after."""
    try:
        app = TfnpLab(setup)
    except MetricsError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    app.run()
    for line in app.exit_lines:
        print(line, file=sys.stderr if line.startswith(PROG) else sys.stdout)
    return 0
