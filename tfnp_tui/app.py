"""The lab: the App composes the screen, binds the keys and routes what the training session
posts to the panels. It trains nothing itself (tfnp_tui/session.py does) and knows nothing
of what each panel draws (each takes the same calls: tfnp_tui/widgets/panel.py)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Footer

from .actions import LabActions
from .best_file import out_of_patience, patience_story
from .describe import model_summary
from .history import History
from .keys import BINDINGS
from .messages import (
    GradcheckDone,
    Inspected,
    KnockedOut,
    MetricsFailed,
    Probed,
    Progress,
    RunState,
    Sampled,
    Saved,
    SequenceChosen,
    Stopped,
    ToolFailed,
)
from .metrics import MetricsError
from .numbers import loss_text
from .pacing import RateMeter, RedrawBudget
from .runs import Overlays
from .sampling import newer
from .screens.gradcheck import GradcheckScreen
from .session import TrainingSession
from .setup import PROG, Setup
from .view import LabInfo, Scene, View
from .widgets.attention import AttentionPanel
from .widgets.embeddings import EmbeddingPanel
from .widgets.enlarge import EnlargeNote, too_small
from .widgets.gradients import GradientPanel
from .widgets.grid import PanelGrid, PanelSlot
from .widgets.heads import HeadsPanel
from .widgets.inspector import InspectorPanel
from .widgets.loss import LossPanel
from .widgets.panel import Panel
from .widgets.samples import SamplesPanel
from .widgets.status import StatusLine

# The grid's slots, left to right and top to bottom; a slot shows one of its panels at a time:
# the first, or the one whose SHOWN_BY field of the View is on. Adding a panel is one entry here.
PANELS: tuple[tuple[type[Panel], ...], ...] = (
    (LossPanel, EmbeddingPanel, SamplesPanel),
    (AttentionPanel, HeadsPanel),
    (GradientPanel,),
    (InspectorPanel,),
)


class TfnpLab(LabActions, App):
    """Train the Transformer and watch it learn."""

    TITLE = "tfnp-tui"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # also for a subclass defined elsewhere
    AUTO_FOCUS = None  # keys go to the lab until Tab picks a panel to scroll
    ENABLE_COMMAND_PALETTE = False  # every action has its own key, all listed under ?
    PANELS = PANELS
    BINDINGS = BINDINGS

    def __init__(self, setup: Setup) -> None:
        super().__init__()
        self.setup = setup
        self.session = TrainingSession(setup, self.post_message)  # MetricsError when the file cannot be continued
        self.lab = replace(LabInfo.of(setup.trainer), overlays=Overlays.of(setup))  # --compare, earlier epochs
        self.scene = Scene(setup.trainer.model, self.lab.n_layers)
        self.save_path = setup.lab_save_path()
        self.quit_unsaved = False  # q once failed to save: the next q quits all the same
        self.exit_lines: list[str] = []  # said once the lab has closed
        self.budget, self.rate = RedrawBudget(), RateMeter()
        self.panels: list[Panel] = []  # found once they are mounted: a report reaches each of them
        self._terminal_size = (0, 0)

    @property
    def trainer(self):
        return self.session.trainer

    @property
    def view(self) -> View:
        return self.scene.view

    @property
    def history(self) -> History:
        return self.scene.history

    def compose(self) -> ComposeResult:
        t = self.trainer
        yield StatusLine(t.train_cfg.task, t.train_cfg.optimizer, model_summary(t), id="status")
        with PanelGrid(len(self.PANELS), self.lab.seq_len, id="panels"):
            for slot in self.PANELS:
                with PanelSlot():
                    for panel in slot:
                        yield panel(self.lab, classes="panel")
        yield EnlargeNote(id="too-small")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.panels = list(self.query(".panel"))
        self.slots = list(self.query(PanelSlot))
        status = self.status
        status.epoch, status.step, status.lr_scale = self.trainer.epoch, self.trainer.step_count, self.trainer.lr_scale
        status.lr = self.trainer.next_lr()  # the schedule's rate at this step, with a checkpoint's factor
        if self.setup.loaded:
            stopped = f"; it stopped early, {patience_story(self.trainer)}" if out_of_patience(self.trainer) else ""
            status.say(f"loaded {self.setup.loaded.path} at step {self.trainer.step_count}{stopped}")
        self.check_size(self.size.width, self.size.height)
        self.redraw()
        self.session.probe()
        self.session.inspect()

    # ------------------------------------------------------------------------ the screen's size
    def on_resize(self, event) -> None:
        self.check_size(event.size.width, event.size.height)  # the event's size: self.size may lag

    @property
    def too_small(self) -> bool:
        return self.screen_stack[0].has_class("too-small")

    def check_size(self, width: int, height: int) -> None:
        """Fit the panels to the terminal, or ask for a larger one."""
        small = too_small(width, height)
        if small != self.too_small:
            self.screen_stack[0].set_class(small, "too-small")  # the lab's screen, under any open box
            self.refresh_bindings()  # check_action's answers changed: the footer follows
        self.query_one(PanelGrid).fit(height)
        self._terminal_size = (width, height)
        self.say_enlarge()

    def say_enlarge(self) -> None:
        if self.too_small:
            self.query_one(EnlargeNote).say(self._terminal_size, self.session.running)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Behind the 'enlarge' message only space and q act: nothing changes unseen."""
        return not self.too_small or action in ("run_pause", "quit")

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    # ------------------------------------------------------------------ what the session says
    def on_progress(self, msg: Progress) -> None:
        if msg.generation != self.session.generation:
            return
        self.scene.take(msg)
        for panel in self.panels:
            panel.feed(msg)
        self.status.follow(msg.step, msg.epochs, self.rate.update(msg.step.step))
        self.budget.adapt()
        if self.view.live and (msg.final or self.budget.due()):
            self.redraw()
        elif not self.view.live and msg.epochs:
            self.set_notes(self.scene.replay_note())  # "epoch 3 of N": N grows while training runs

    def on_run_state(self, msg: RunState) -> None:
        """Running or paused follows the training thread itself."""
        self.status.running = self.session.running
        if not self.status.running:
            self.rate.stop()
            if self.view.live:  # the last report may have come between two throttled redraws
                self.redraw()
        self.say_enlarge()  # which of the two it says

    def warn(self, message: str, title: str, short: str = "") -> None:
        """An error: a few words on the status line, the whole story in a notification."""
        self.status.say(short or message, "error")
        self.notify(message, title=title, severity="error", timeout=10)

    def on_stopped(self, msg: Stopped) -> None:
        if msg.generation == self.session.generation and msg.kind in ("finished", "patience"):
            self.status.say(msg.reason)
        elif msg.generation == self.session.generation:
            self.warn(msg.reason, "training stopped", msg.short)

    def on_metrics_failed(self, msg: MetricsFailed) -> None:
        self.warn(msg.reason, "metrics")

    def on_tool_failed(self, msg: ToolFailed) -> None:
        if isinstance(self.screen, GradcheckScreen):
            self.pop_screen()
        self.warn(msg.reason, "something failed")

    def on_probed(self, msg: Probed) -> None:
        if msg.generation == self.session.generation and msg.probe.knockout == self.view.knocked:
            self.scene.live_probe = msg.probe
            if self.view.live:
                self.redraw()

    def on_inspected(self, msg: Inspected) -> None:
        if msg.generation == self.session.generation:
            self.scene.live_inside = msg.inside
            if self.view.live:
                self.redraw()

    def on_sampled(self, msg: Sampled) -> None:
        """A sample written on demand (z, a temperature, a prompt): the newest is shown live."""
        if msg.generation == self.session.generation:
            self.scene.live_sample = newer(msg.sample, self.scene.live_sample)
            if self.view.live:
                self.redraw(view_only=True)  # only the Samples panel has something new

    def on_knocked_out(self, msg: KnockedOut) -> None:
        """The validation figures without the knocked-out head (if it is still the one out)."""
        if msg.generation != self.session.generation or msg.knocked is None or msg.knocked != self.view.knocked:
            return
        layer, head = msg.knocked
        self.status.say(f"without L{layer + 1} H{head + 1}: val acc {msg.val_acc:.1%}, loss {loss_text(msg.val_loss)}"
                        f" · every head: {msg.base_val_acc:.1%}, {loss_text(msg.base_val_loss)}"
                        " · training uses every head")  # fmt: skip

    def on_saved(self, msg: Saved) -> None:
        if msg.error:
            self.warn(msg.error, "could not save", f"could not save: {msg.error}")
        else:
            self.status.say(f"saved {msg.path} (step {msg.step})")

    def on_gradcheck_done(self, msg: GradcheckDone) -> None:
        if msg.generation != self.session.generation:  # a check of the model before a reset
            return
        r = msg.report
        verdict = "all pass" if r.passed else f"{r.failed} FAIL"
        planted = f" with {msg.bug} planted" if msg.bug else ""
        self.status.say(f"gradient check{planted}: {verdict}, worst error {r.max_rel_error:.1e} ({r.seconds:.1f}s)",
                        "information" if r.passed else "error")  # fmt: skip
        if isinstance(self.screen, GradcheckScreen):
            self.screen.show(r, msg.step, msg.bug)

    # --------------------------------------------------------------------------- the view
    def redraw(self, view_only: bool = False) -> None:
        """Hand every panel the frame of the view: live, or the replayed epoch. view_only:
        only the view changed (a key), and the panels it does not concern keep their picture."""
        if not view_only:
            self.budget.drew()
        frame = self.scene.frame(view_only)
        for slot in self.slots:
            for panel in slot.choose(frame.view):  # a panel out of sight draws when it comes back
                panel.show(frame)

    def set_notes(self, note: str) -> None:
        for panel in self.panels:
            if panel.note != note:
                panel.set_note(note)

    def on_sequence_chosen(self, msg: SequenceChosen) -> None:
        """The inspector's line gave a sequence to look at (None: the probe sample again)."""
        if msg.tokens is None:
            return self.action_probe_sample()
        self.status.say(f"inspector: {msg.text}")
        self.set_focus(None)
        self.view.typed = True
        self.go_live()
        self.session.probe(msg.tokens)
        self.follow_prompt()

    def on_unmount(self) -> None:
        problem = self.session.close()
        if problem:  # the screen is gone: said after the lab closes
            self.exit_lines.append(f"{PROG}: warning: {problem}")


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
