"""The Samples view in the lab: what a causal model writes after the probe sample (or a typed
prompt), kept with each epoch for replay. Every sample shown is checked against
engine.generation.generate run here on a copy of the parameters of that moment (and the
greedy one against an argmax loop written here), so the view is true."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest
from textual import events
from textual.widgets import Static

from engine import ModelConfig, TrainConfig, Trainer
from engine.generation import Vocabulary, generate
from engine.model import TransformerEncoder
from tfnp_tui.sampling import CANNOT_WRITE, SAMPLE_TOKENS, TEMPERATURES, Sample, Sampler, newer
from tfnp_tui.widgets.loss import LossPanel
from tfnp_tui.widgets.samples import SamplesPanel, sample_text

from .lab import REVERSE, make_lab, press, screen_text, settle, tap

TEXT = "the quick brown fox jumps over the lazy dog.\nthe dog sleeps; the fox runs away.\n" * 30
TEXT_RUN = ["--task", "text", "--data", "t.txt", "--seq-len", "16", "--samples", "64", "--val-samples", "64",
            "--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "32"]  # fmt: skip


@pytest.fixture
def text_file(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)


def frozen(trainer) -> TransformerEncoder:
    """A model with a copy of the trainer's parameters as they are now."""
    return TransformerEncoder(trainer.model_cfg, params=trainer.model.params_numpy())


def written(model, prompt, temperature: float, seed: int, tokens: int) -> np.ndarray:
    return np.fromiter(generate(model, prompt, tokens, temperature, 0, seed), dtype=np.int64)


def greedy(model, prompt, n: int) -> list[int]:
    """The most probable next token, n times, each on the last seq_len tokens (argmax by hand)."""
    text, T = [int(i) for i in prompt], model.cfg.seq_len
    for _ in range(n):
        logits, _ = model.forward(np.asarray([text[-T:]], dtype=np.int64))
        text.append(int(np.argmax(logits[0, -1])))
    return text[len(prompt) :]


def shown(app) -> tuple[Sample, str]:
    """The sample the panel draws, and its text as drawn (plain)."""
    panel = app.query_one(SamplesPanel)
    assert panel.display and not app.query_one(LossPanel).display
    return panel.sample, app.query_one("#samples-text", Static).content.plain


def check_shown(app, model, prompt, temperature: float, seed: int, when: str) -> Sample:
    """The panel shows `model` writing after `prompt`: the same tokens as generate, the prompt
    dim and the rest bold, and the first line saying when, at which temperature and seed."""
    sample, plain = shown(app)
    np.testing.assert_array_equal(sample.prompt, prompt)
    np.testing.assert_array_equal(sample.tokens, written(model, prompt, temperature, seed, app.session.sampler.tokens))
    vocab = Vocabulary.of_task(app.trainer.task)
    how = "temperature 0 (greedy)" if temperature == 0 else f"temperature {temperature:g} · seed {seed}"
    head = f"{when} · {how}" + (" · typed prompt" if sample.typed else "")
    assert plain == f"{head}\n{vocab.decode(prompt)}{vocab.decode(sample.tokens)}"
    text = sample_text(sample)
    styles = {text.plain[s.start : s.end]: str(s.style) for s in text.spans}
    assert styles[vocab.decode(prompt)] == "dim" and styles[vocab.decode(sample.tokens)] == "bold"
    assert head in screen_text(app)
    return sample


async def test_samples_at_each_epoch_replay_temperature_seed_and_a_typed_prompt(text_file):
    app = make_lab(*TEXT_RUN)
    assert app.session.sampler.tokens == SAMPLE_TOKENS
    app.session.sampler.tokens = 48  # a quicker test: what is written is as long as asked
    async with app.run_test(size=(120, 40)) as pilot:
        probe = app.trainer.task.probe()[0][0]
        await press(pilot, "x")  # the untrained model writes at once
        check_shown(app, frozen(app.trainer), probe, 0.8, 0, "untrained")
        models = {}
        for epoch in (1, 2):
            await press(pilot, "n")
            models[epoch] = frozen(app.trainer)
            kept = check_shown(app, models[epoch], probe, 0.8, 0, f"epoch {epoch}")
            assert app.history.get(epoch).sample is kept
        assert not np.array_equal(app.history.get(1).sample.tokens, app.history.get(2).sample.tokens)
        # replay: each epoch's own sample
        await press(pilot, "left", "left")
        assert app.view.epoch == 1 and "epoch 1 of 2 (replay)" in screen_text(app)
        check_shown(app, models[1], probe, 0.8, 0, "epoch 1")
        await press(pilot, "right")
        check_shown(app, models[2], probe, 0.8, 0, "epoch 2")
        # temperature: > writes again (live) at 1.0; < three times reaches greedy, and stays there
        await press(pilot, "greater_than_sign")
        assert app.view.live
        check_shown(app, models[2], probe, 1.0, 0, "epoch 2")
        await press(pilot, "less_than_sign", "less_than_sign", "less_than_sign", "less_than_sign")
        sample = check_shown(app, models[2], probe, 0.0, 0, "epoch 2")
        assert list(sample.tokens) == greedy(models[2], probe, 48)
        # z: a fresh seed, the next one, each time
        await press(pilot, "greater_than_sign", "greater_than_sign", "z")
        again = check_shown(app, models[2], probe, 0.8, 1, "epoch 2")
        assert not np.array_equal(again.tokens, app.history.get(2).sample.tokens)  # seed 0 wrote that
        await press(pilot, "z")
        check_shown(app, models[2], probe, 0.8, 2, "epoch 2")
        # a typed prompt: written after at once, and at the next epoch's end
        await press(pilot, "t", *"the", "enter")
        typed = app.trainer.task.parse("the")[0]
        check_shown(app, models[2], typed, 0.8, 2, "epoch 2")
        await press(pilot, "n")
        check_shown(app, frozen(app.trainer), typed, 0.8, 2, "epoch 3")
        await press(pilot, "p")  # the probe sample again
        check_shown(app, frozen(app.trainer), probe, 0.8, 2, "epoch 3")
        await pilot.resize_terminal(80, 24)
        await press(pilot)
        assert "epoch 3 · temperature 0.8 · seed 2" in screen_text(app)
        # e takes the slot from x, and x takes it back
        await press(pilot, "e")
        assert not app.view.samples and not app.query_one(SamplesPanel).display
        await press(pilot, "x")
        assert not app.view.embeddings and app.query_one(SamplesPanel).display


async def test_writing_while_training_runs_leaves_the_training_as_it_would_be_alone(text_file):
    """Keys that write (z, <, >, a typed prompt) pressed while three epochs train: every epoch
    keeps a sample, the newest is shown, and the parameters equal a Trainer's trained alone."""
    app = make_lab(*TEXT_RUN, "--samples", "320", "--epochs", "3")  # 10 steps an epoch
    app.session.sampler.tokens = 24
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        await tap(pilot, "space")  # (press() would wait for the run to end)
        for key, char in [("z", "z"), ("greater_than_sign", ">"), ("t", "t"), ("h", "h"), ("enter", "\r"),
                          ("z", "z"), ("less_than_sign", "<")]:  # fmt: skip
            app.post_message(events.Key(key, char))  # as a terminal delivers it, while training runs
            await asyncio.sleep(0.03)
        await settle(pilot)  # the run ends after its 3 epochs
        assert app.trainer.step_count == 30 and not app.session.running
        assert all(app.history.get(e).sample is not None for e in (1, 2, 3))
        assert app.session.sampler.made == 1 + 5 + 3  # on x (untrained), on each of the 5 keys, each epoch's end
        assert app.scene.live_sample.prompt.tolist() == app.trainer.task.parse("h")[0].tolist()  # made after enter
        assert app.scene.live_sample.number == app.session.sampler.made and shown(app)[0] is app.scene.live_sample
        alone = Trainer(app.trainer.model_cfg, app.trainer.train_cfg, task=app.trainer.task)
        for _ in range(3):
            alone.run_epoch()
        np.testing.assert_array_equal(app.trainer.model.flat, alone.model.flat)


async def test_a_model_that_is_not_causal_says_why_it_cannot_write():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "x")
        assert shown(app)[1] == CANNOT_WRITE and "this model cannot write" in screen_text(app)
        await press(pilot, "z", "greater_than_sign", "n")
        assert app.scene.live_sample is None and app.history.get(1).sample is None
        assert shown(app)[1] == CANNOT_WRITE


def test_a_toy_task_writes_numbers_and_a_model_that_is_not_causal_writes_nothing():
    model_cfg = ModelConfig(vocab_size=10, seq_len=4, d_model=16, n_heads=2, n_layers=1, d_ff=32, causal=True)
    trainer = Trainer(model_cfg, TrainConfig(task="next", samples=32, val_samples=8))
    sampler = Sampler(Vocabulary.of_task(trainer.task), tokens=12)
    sample = sampler.write(trainer, None)
    prompt = trainer.task.probe()[0][0]
    expected = list(generate(trainer.model, prompt, 12, 0.8, 0, 0))
    assert list(sample.tokens) == expected and not sample.typed
    numbers = " ".join(map(str, [*prompt, *expected]))
    assert sample_text(sample).plain == f"untrained · temperature 0.8 · seed 0\n{numbers}"
    seeing_ahead = Trainer(replace(model_cfg, causal=False), TrainConfig(task="next", samples=32, val_samples=8))
    assert sampler.write(seeing_ahead, None) is None


def test_the_temperature_ladder_and_the_newest_sample():
    sampler = Sampler(Vocabulary("ab"))
    assert sampler.temperature == 0.8
    assert [sampler.move_temperature(1) for _ in range(4)] == [1.0, 1.2, 1.5, 1.5]
    assert [sampler.move_temperature(-1) for _ in range(6)] == [1.2, 1.0, 0.8, 0.5, 0.0, 0.0]
    assert TEMPERATURES[0] == 0 and (sampler.reseed(), sampler.reseed()) == (1, 2)
    old, new = (Sample(np.zeros(1), np.zeros(1), Vocabulary("ab"), 1.0, 0, 5, 1, True, False, n) for n in (1, 2))
    assert newer(old, new) is new and newer(new, old) is new and newer(None, old) is old
