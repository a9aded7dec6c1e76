"""The lab in a real terminal: tfnp-tui started in tmux, keys sent with send-keys, the
screen read back with capture-pane, as a new user would try it."""

from __future__ import annotations

import itertools
import os
import random
import re
import shutil
import subprocess
import sys
import time

import pytest

from .lab import REVERSE

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")
_sockets = itertools.count()


class Terminal:
    """One tmux server with one window running tfnp-tui."""

    def __init__(self, argv: list[str], cwd, size=(120, 40)) -> None:
        self.socket = f"tfnp-test-{os.getpid()}-{next(_sockets)}"
        command = " ".join([sys.executable, "-m", "tfnp_tui", *argv])
        env = {**os.environ, "TERM": "xterm-256color"}
        self.tmux("new-session", "-d", "-x", str(size[0]), "-y", str(size[1]), "-s", "lab", command, cwd=cwd, env=env)

    def tmux(self, *args: str, cwd=None, env=None, check=True) -> str:
        result = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, cwd=cwd, env=env,
                                timeout=30, check=check)  # fmt: skip
        return result.stdout

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "lab", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "lab", check=False)

    def alive(self) -> bool:
        probe = subprocess.run([TMUX, "-L", self.socket, "has-session", "-t", "lab"], capture_output=True)
        return probe.returncode == 0

    def wait_for(self, text: str, timeout: float = 20.0, gone: bool = False) -> str:
        """The screen once `text` is on it (or, with gone, off it); fails with the screen shown."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if (text in screen) != gone:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} {'still' if gone else 'never'} on screen after {timeout}s:\n{self.screen()}")

    def wait_exit(self, timeout: float) -> float:
        """Seconds until tfnp-tui exited (the tmux session ends with it)."""
        start = time.monotonic()
        while self.alive():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"still running after {timeout}s:\n{self.screen()}")
            time.sleep(0.02)
        return time.monotonic() - start

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True)
        folder = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}")
        if os.path.exists(os.path.join(folder, self.socket)):
            os.remove(os.path.join(folder, self.socket))


@pytest.fixture
def terminal(tmp_path):
    opened = []

    def start(*argv: str, size=(120, 40)) -> Terminal:
        opened.append(Terminal(list(argv), tmp_path, size))
        return opened[-1]

    yield start
    for t in opened:
        t.close()


def test_every_key_in_a_real_terminal(terminal, tmp_path):
    t = terminal(*REVERSE)
    t.wait_for("Gradient norms")
    for title in ("Loss", "Attention", "Inspector", "paused", "task reverse", "adam lr 1.0e-03"):
        assert title in t.screen(), title
    t.send("n")
    t.wait_for("epoch 1  step 63")
    t.send("s")
    t.wait_for("step 64")
    t.send("Space")
    t.wait_for("running")
    t.send("Space")
    t.wait_for("paused")
    t.send("Left")
    t.wait_for("(replay)")
    t.send("Right")
    t.wait_for("(replay)", gone=True)
    t.send("[", "h")
    t.wait_for("layer 1/2 · head 2/2")
    t.send("a")
    t.wait_for("all 2 heads")
    t.send("a", "v")
    t.send("g")
    t.wait_for("tensors pass")
    t.send("Escape")
    t.wait_for("tensors pass", gone=True)  # closed (and a key sent right after ESC would read as alt+key)
    assert "gradient check: all pass" in t.screen()
    t.send("w")
    t.wait_for(f"saved {tmp_path / 'tfnp-checkpoint.npz'} (step ")  # the whole path: no doubt where
    assert (tmp_path / "tfnp-checkpoint.npz").exists()
    t.send("C-s")
    t.wait_for("screenshot saved")
    assert list(tmp_path.glob("tfnp-screenshot-*.svg"))
    t.send("?")
    t.wait_for("Keys")
    t.send("Escape")
    t.wait_for("Keys", gone=True)
    t.send("t")
    t.wait_for("run/pause", gone=True)  # the input line has the keys now: the footer shows its own
    t.send("3", "Space", "9", "Space", "1", "Enter")
    t.wait_for("(typed)")
    t.send("r")
    t.wait_for("Reset to a fresh model?")
    t.send("y")
    t.wait_for("step 0 ")
    t.send("q")
    assert t.wait_exit(5) < 5


def test_the_instruments_inside_the_model_in_a_real_terminal(terminal):
    """The keys of the heads table, the knock-out, the computed row, the logit lens, the
    embedding space and a planted bug, in a real terminal at 80x24, then at 120x40."""
    t = terminal(*REVERSE, size=(80, 24))
    t.wait_for("Gradient norms")
    t.send("n")
    t.wait_for("epoch 1  step 63")
    t.send("o")
    t.wait_for("Heads")
    t.wait_for("pattern")
    t.send("k")
    t.wait_for("✕ L2 H1 out")
    t.wait_for("without L2 H1: val acc")
    t.send("Left")
    t.wait_for("(replay)")
    t.send("k", "o", "c")
    t.wait_for("✕ L2 H1 out", gone=True)
    t.wait_for("query 0")
    t.send(".")
    t.wait_for("query 1")
    t.send("l")
    t.wait_for("logit lens")
    t.tmux("resize-window", "-t", "lab", "-x", "120", "-y", "40")
    t.wait_for("post-LN relu")  # the status line has room for the model at 120 columns
    assert "L2 out" in t.screen()  # the lens, redrawn at the new size
    t.send("e")
    t.wait_for("Embeddings")
    t.wait_for("PC1")
    t.send("E")
    t.wait_for("positions · PCA")
    t.send("e", "g")
    t.wait_for("tensors pass")
    t.send("b")
    t.wait_for("FAIL")
    t.send("Escape")
    t.wait_for("planted bug", gone=True)
    assert t.alive() and "Traceback" not in t.screen()
    t.send("q")
    assert t.wait_exit(5) < 5


def test_q_exits_while_training_runs(terminal):
    t = terminal("--epochs", "100000")
    t.wait_for("Gradient norms")
    t.send("Space")
    t.wait_for("running")
    time.sleep(0.5)
    t.send("q")
    assert t.wait_exit(5) < 5


def test_a_small_terminal_asks_to_be_enlarged(terminal):
    t = terminal(size=(70, 20))
    screen = t.wait_for("Enlarge the terminal to at least 80x24")
    assert "Gradient norms" not in screen
    t.send("q")
    t.wait_exit(5)


def test_tab_and_the_arrows_scroll_a_long_inspector(terminal, tmp_path):
    (tmp_path / "t.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40)
    both = [terminal("--task", "text", "--data", "t.txt", "--seq-len", "32", "--samples", "64", "--d-model", "32",
                     size=size) for size in ((80, 24), (120, 40))]  # fmt: skip
    # the two labs side by side, each key to both in turn: each starts and steps while the other does
    for t in both:
        t.wait_for("Gradient norms")
        t.send("s")
    for t in both:
        screen = t.wait_for("step 1 ")
        assert not re.search(r"│\s+31\s", screen)  # the last position is off-screen at first
        t.send("Tab", "Tab", "Tab")  # attention, gradient norms, then the inspector's rows
        t.send("End")
    for t in both:
        screen = t.wait_for(" 31 ")
        assert re.search(r"│\s+31\s", screen)
        t.send("Home")
    for t in both:
        t.wait_for(" 31 ", gone=True)
        t.send("q")
    for t in both:
        t.wait_exit(5)


def test_soak_random_keys_in_a_real_terminal(terminal):
    """A short seeded soak: random keys while training runs, then the lab still answers."""
    rng = random.Random(1)
    keys = ["Space", "n", "s", "Left", "Right", "[", "]", "h", "H", "a", "v", "Tab", "BTab", "Up", "Down",
            "PageUp", "PageDown", "Home", "End", "p", "c", ",", ".", "o", "k", "e", "E", "l"]  # fmt: skip
    t = terminal(*REVERSE, "--epochs", "1000")
    t.wait_for("Gradient norms")
    t.send("Space")
    for _ in range(60):
        t.send(rng.choice(keys))
        time.sleep(0.02)
    assert t.alive() and "Traceback" not in t.screen()
    t.send("Escape")  # focus back to the lab: its keys act again
    time.sleep(0.3)  # a key sent right after ESC would read as alt+key
    t.send("?")
    t.wait_for("Keys")
    t.send("Escape")
    t.wait_for("Keys", gone=True)
    t.send("q")
    assert t.wait_exit(10) < 10
