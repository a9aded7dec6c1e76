"""What each key of the lab does (the keys themselves: tfnp_tui/keys.py). Mixed into the App:
every action changes the view, drives the training session, or opens a tool, and says what
it did on the status line."""

from __future__ import annotations

import os
import time

from textual.widgets import Input

from engine.training.checkpoint import CheckpointError
from engine.training.trainer import LR_SCALE_LIMITS

from .best_file import BestFile
from .files import best_path, unused_path
from .numbers import factor_text
from .sampling import CANNOT_WRITE
from .screens.confirm import ConfirmScreen
from .screens.gradcheck import GradcheckScreen
from .screens.help import HelpScreen
from .widgets.gradients import GradientPanel
from .widgets.loss import LossPanel

MAP_MODES = ("row", "all_heads", "values")  # views of the attention panel (the Heads table makes way for them)
# what the status line says when a view turns on, and off
SAYS = {
    "row": ("one attention row computed: ,/. choose the query; c back to the map", "the attention map"),
    "heads_table": ("heads: what each head attends to and what the model loses without it; o back",
                    "the attention map"),
    "embeddings": ("embedding space: each token's embedding on its first two principal axes; E positions; e back",
                   "the loss curves"),
    "positions": ("embedding space: embedding + position of each position of the probe; E the vocabulary",
                  "embedding space: the vocabulary"),
    "lens": ("logit lens: the prediction read out after each layer; l back", "the predictions"),
    "samples": ("samples: the prompt dim, the writing bold; < > temperature, z again, x back",
                "the loss curves"),
}  # fmt: skip


class LabActions:
    """The App's key actions; it provides session, scene, view, status, panels, redraw and warn."""

    # ---------------------------------------------------------------------------- the view
    def action_replay(self, delta: int) -> None:
        said = self.scene.replay(delta)
        self.status.say(said, "warning" if said.startswith("no epochs") else "information")
        self.redraw()

    def action_layer(self, delta: int) -> None:
        self.view.move_layer(delta, self.lab.n_layers)
        self.redraw(view_only=True)

    def action_head(self, delta: int) -> None:
        self.view.move_head(delta, self.lab.n_heads)
        self.redraw(view_only=True)

    def action_toggle(self, mode: str) -> None:
        on = not getattr(self.view, mode)
        setattr(self.view, mode, on)
        if on:
            self.alone(mode)
        if mode in MAP_MODES:  # a key about the attention map shows the map
            self.view.heads_table = False
        if mode in SAYS:
            self.status.say(SAYS[mode][0 if on else 1])
        if mode == "embeddings":
            self.follow_embeddings()
        if mode == "samples" and on:
            self.follow_samples()
        self.redraw(view_only=True)

    def alone(self, mode: str) -> None:
        """A view that takes a slot turns off the other views of that slot (app.py: PANELS)."""
        for panel in [panel for slot in self.PANELS for panel in slot[1:] if panel.SHOWN_BY == mode]:
            self.bring_forward(panel)

    def bring_forward(self, panel: type) -> None:
        """Show `panel` (a Panel class) in its slot: the slot's other views are turned off."""
        for slot in self.PANELS:
            for other in [p.SHOWN_BY for p in slot[1:] if p is not panel] if panel in slot else ():
                if getattr(self.view, other):
                    setattr(self.view, other, False)
                    if other == "embeddings":
                        self.follow_embeddings()

    def follow_embeddings(self) -> None:
        """Live probes project the embedding space while it is shown (an SVD a probe), and a
        probe comes at once with it."""
        self.session.spaces = self.view.embeddings
        if self.view.embeddings:
            self.session.probe(self.session.probe_tokens)

    def action_query(self, delta: int) -> None:
        """Move the query position of the computed attention row (and show the row)."""
        self.view.move_query(delta, len(self.scene_tokens()) or self.lab.seq_len)
        if not self.view.row or self.view.heads_table:
            self.view.row = False
            self.action_toggle("row")
        else:
            self.redraw(view_only=True)

    def scene_tokens(self):
        probe = self.scene.frame(view_only=True).probe
        return probe.tokens if probe is not None else ()

    def action_embedding_positions(self) -> None:
        """The embedding view of the probe's positions (embedding + positional encoding), or back."""
        self.view.positions = not self.view.positions if self.view.embeddings else True
        self.view.embeddings = True
        self.alone("embeddings")
        self.status.say(SAYS["positions"][0 if self.view.positions else 1])
        self.follow_embeddings()
        self.redraw(view_only=True)

    def action_knock_out(self) -> None:
        """Knock the head the Attention panel shows out of the analysis, or put it back."""
        head = (self.view.layer, self.view.head)
        self.view.knocked = None if self.view.knocked == head else head
        self.status.knocked = self.view.knocked
        name = f"L{head[0] + 1} H{head[1] + 1}"
        if self.view.knocked is None:
            self.status.say(f"{name} is back: every head is in the analysis again")
        else:
            self.status.say(f"{name} knocked out of the analysis (training still uses every head); measuring…")
        self.session.knock_out(self.view.knocked)
        self.redraw(view_only=True)

    def action_loss_curves(self, mode: str) -> None:
        """m: smoothing, y: log or linear: toggle the Loss panel's `mode` (a View field) and
        bring the panel forward if another view had its slot."""
        on = not getattr(self.view, mode)
        setattr(self.view, mode, on)
        self.bring_forward(LossPanel)
        said = {"smooth_loss": ("training loss smoothed (moving average), the raw curve faint: m again for raw",
                                "training loss raw (m smooths it)"),
                "linear_loss": ("loss axis linear (y: back to log)", "loss axis logarithmic (y: linear)")}  # fmt: skip
        self.status.say(said[mode][0 if on else 1])
        self.redraw(view_only=True)

    def action_scroll_gradients(self, direction: int) -> None:
        panel = self.query_one(GradientPanel)
        panel.scroll_relative(y=direction * max(panel.size.height - 2, 1), animate=False)

    # ------------------------------------------------------------------------- training
    def go_live(self) -> None:
        if not self.view.live:
            self.view.epoch = None
            self.redraw()

    def action_run_pause(self) -> None:
        self.go_live()
        if self.session.running:
            self.session.pause()
            self.status.say("paused")
        else:
            self.status.say("running: space pauses")
            self.session.run()

    def action_train(self, mode: str) -> None:
        self.go_live()
        self.status.say("one step" if mode == "step" else "training to the end of the epoch")
        self.session.step() if mode == "step" else self.session.epoch()

    def action_scale_lr(self, factor: float) -> None:
        """Halve or double the learning rate from the next step on (the schedule goes on under
        it); past LR_SCALE_LIMITS it is refused and said."""
        try:
            scale, lr = self.session.scale_lr(factor)
        except ValueError:
            low, high = LR_SCALE_LIMITS
            now = factor_text(self.trainer.lr_scale)
            return self.status.say(f"the learning rate stays {now} the schedule's: the keys go from "
                                   f"{factor_text(low)} to {factor_text(high)}", "warning")  # fmt: skip
        self.status.lr, self.status.lr_scale = lr, scale
        self.status.say(f"learning rate {lr:.1e} from the next step on: {factor_text(scale)} the schedule's"
                        " (- halves, + doubles; saved with the checkpoint)")  # fmt: skip

    def action_reset(self) -> None:
        also = f" {self.session.metrics.path} starts afresh." if self.session.metrics else ""
        fresh = unused_path(self.save_path, self.session.best_file is not None)
        if fresh != self.save_path:
            kept = self.save_path if os.path.exists(self.save_path) else best_path(self.save_path)
            also += f" {kept} is kept: saves go to {fresh}."
        question = f"Reset to a fresh model? Training so far is dropped.{also}"
        self.push_screen(ConfirmScreen(question), lambda yes: self.reset() if yes else None)

    def reset(self) -> None:
        self.session.reset()  # the run before has written its best epoch when this returns
        best = self.session.best_file is not None
        self.save_path = unused_path(self.save_path, best)  # the fresh model replaces no checkpoint of the run before
        if best:
            self.session.best_file = BestFile.beside(self.save_path)
        self.scene.clear()
        for panel in self.panels:
            panel.clear()
        status = self.status
        status.epoch, status.step, status.loss = 0, 0, float("nan")
        status.lr, status.lr_scale = self.trainer.next_lr(), self.trainer.lr_scale
        status.say(f"reset: a fresh model (seed {self.trainer.train_cfg.seed})")
        self.redraw()
        self.session.probe(self.session.probe_tokens)
        self.session.inspect()

    # ------------------------------------------------------------------- the typed sequence
    def action_type_sequence(self) -> None:
        line = self.query_one("#sequence", Input)
        line.display = True
        self.screen.set_focus(line)  # at once (focus() waits a turn): the next key is already typed

    def action_probe_sample(self) -> None:
        self.view.typed = False
        self.status.say("inspector: the probe sample")
        self.session.probe(None)
        self.follow_prompt()

    # ---------------------------------------------------------------------------- samples
    def follow_samples(self) -> None:
        """The samples view came on: a model that cannot write says why; one that has written
        nothing yet writes now."""
        if not self.lab.causal:
            self.status.say(CANNOT_WRITE, "warning")
        elif self.scene.live_sample is None:
            self.session.sample()

    def follow_prompt(self) -> None:
        """A new prompt (typed, or the probe sample again): the model writes after it now."""
        if self.lab.causal:
            self.session.sample()

    def action_temperature(self, delta: int) -> None:
        """A step along the temperature ladder; the model writes again with it (and each epoch's end)."""
        t = self.session.sampler.move_temperature(delta)
        self.sample_now(f"temperature {t:g}" + (" (greedy: the most probable token each time)" if t == 0 else "")
                        + ": from now on, and at each epoch's end")  # fmt: skip

    def action_sample_again(self) -> None:
        """Write again with a fresh seed (the next: a run of presses repeats)."""
        sampler = self.session.sampler
        seed = sampler.reseed()
        greedy = " (temperature 0 is greedy: every seed writes the same)" if sampler.temperature == 0 else ""
        self.sample_now(f"seed {seed}: written again, and so at each epoch's end{greedy}")

    def sample_now(self, said: str) -> None:
        """Show the samples (live) and have the model write now."""
        self.view.samples = True
        self.alone("samples")
        if not self.lab.causal:
            self.status.say(CANNOT_WRITE, "warning")
            return self.redraw(view_only=True)
        self.status.say(said)
        self.session.sample()
        if self.view.live:
            self.redraw(view_only=True)
        self.go_live()

    # ------------------------------------------------------------------------------ tools
    def action_gradcheck(self) -> None:
        if self.session.running:
            self.status.say("training paused for the gradient check")
        self.push_screen(GradcheckScreen())
        self.session.gradcheck()  # pauses first: the check needs the CPU, and a model that holds still

    def action_save(self) -> None:
        path = os.path.abspath(self.save_path)
        self.status.say(f"saving {path}…")
        self.session.save(path)

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

    async def action_quit(self) -> None:
        """Quit; with --save, save first (a failed save keeps the lab open, once). What
        became of the training is said on stdout after the lab closes."""
        try:
            line = self.session.leave(self.save_path, bool(self.setup.save), tried=self.quit_unsaved)
        except CheckpointError as err:
            self.quit_unsaved = True
            return self.warn(f"{err}\nq again quits without saving", "could not save",
                             f"not saved, q again quits without saving: {err}")  # fmt: skip
        self.exit_lines += [line] if line else []
        self.exit()
