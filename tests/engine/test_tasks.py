"""Each task's targets, its splits, its seeding, and the text task's file errors."""

import os
import re

import numpy as np
import pytest

from engine import TrainConfig
from engine.training import checkpoint
from engine.training.task_rules import TASK_RULES, TaskRules
from engine.training.tasks import TaskError, make_synthetic_task, make_task


def task(name, **kwargs):
    return make_task(TrainConfig(task=name, samples=300, val_samples=100), vocab_size=20, seq_len=kwargs.get("T", 6))


def test_next_is_the_original_task():
    t = make_task(TrainConfig())
    assert t.train_tokens.shape == (200, 4) and t.vocab_size == 20
    assert t.train_tokens.max() <= 18 and t.train_tokens.min() >= 0
    np.testing.assert_array_equal(t.train_targets, t.train_tokens + 1)
    np.testing.assert_array_equal(t.val_targets, t.val_tokens + 1)


def test_copy_reverse_sort_targets():
    np.testing.assert_array_equal(task("copy").train_targets, task("copy").train_tokens)
    rev = task("reverse")
    np.testing.assert_array_equal(rev.train_targets, rev.train_tokens[:, ::-1])
    srt = task("sort")
    assert np.all(np.diff(srt.train_targets, axis=1) >= 0)
    np.testing.assert_array_equal(np.sort(srt.train_tokens, 1), srt.train_targets)


@pytest.mark.parametrize("name", ["next", "copy", "reverse", "sort"])
def test_validation_sequences_are_not_training_sequences(name):
    t = task(name, T=3)
    train = {row.tobytes() for row in t.train_tokens}
    assert not any(row.tobytes() in train for row in t.val_tokens)
    assert len({row.tobytes() for row in t.val_tokens}) == len(t.val_tokens)


def test_same_seed_same_data_and_another_seed_other_data():
    a, b = task("reverse"), task("reverse")
    np.testing.assert_array_equal(a.train_tokens, b.train_tokens)
    c = make_task(TrainConfig(task="reverse", samples=300, val_samples=100, seed=1), 20, 6)
    assert not np.array_equal(a.train_tokens, c.train_tokens)


def test_too_few_distinct_sequences():
    with pytest.raises(TaskError, match="only 4 distinct sequences"):
        make_task(TrainConfig(task="copy", samples=10, val_samples=10), vocab_size=2, seq_len=2)


def test_parse_a_typed_sequence():
    t = task("reverse")
    np.testing.assert_array_equal(t.parse("3 9, 1"), [[3, 9, 1]])
    with pytest.raises(ValueError, match="token 25 is outside the vocabulary 0..19"):
        t.parse("1 25")
    for typed, bad in (("1 x", "x"), ("--3", "--3"), ("1 ²", "²"), ("2.5", "2.5"), ("+3", "+3"), ("1_0", "1_0"),
                       ("٣", "٣")):  # fmt: skip
        with pytest.raises(ValueError, match=re.escape(f"'{bad}' is not a token id")):
            t.parse(typed)
    with pytest.raises(ValueError, match="type 1 to 6 tokens, got 7"):
        t.parse("1 2 3 4 5 6 7")
    np.testing.assert_array_equal(t.targets_for(t.parse("3 9 1")), [[1, 9, 3]])


def test_the_last_token_of_the_next_task_has_no_target():
    t = task("next")
    assert t.train_tokens.max() <= 18  # training data keeps room for token + 1
    np.testing.assert_array_equal(t.targets_for(t.parse("5 19")), [[6, -1]])


def write(tmp_path, content: bytes, name="data.txt"):
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def text_task(path, T=8):
    return make_task(TrainConfig(task="text", data=path, samples=50, val_samples=10), seq_len=T)


def test_text_task_windows_and_vocabulary(tmp_path):
    text = "hello world, hello numpy. " * 20
    t = text_task(write(tmp_path, text.encode()))
    assert t.chars == "".join(sorted(set(text))) and t.vocab_size == len(set(text))
    np.testing.assert_array_equal(t.train_tokens[:, 1:], t.train_targets[:, :-1])  # shifted by one
    decoded = "".join(t.chars[i] for i in t.train_tokens[0])
    assert decoded in text
    assert t.needs_causal
    assert t.label(t.chars.index(" ")) == "␣"
    np.testing.assert_array_equal(t.targets_for(t.parse("hel")), [[t.chars.index("e"), t.chars.index("l"), -1]])
    with pytest.raises(ValueError, match="not in the vocabulary of the text: 'Z'"):
        t.parse("hiZ")


def test_text_task_file_errors(tmp_path):
    with pytest.raises(TaskError, match="missing.txt: no such file"):
        text_task(str(tmp_path / "missing.txt"))
    with pytest.raises(TaskError, match="is empty"):
        text_task(write(tmp_path, b""))
    with pytest.raises(TaskError, match=r"not UTF-8 text \(byte 0xff at offset 3\)"):
        text_task(write(tmp_path, b"abc\xffdef" * 10))
    with pytest.raises(TaskError, match="is a directory"):
        text_task(str(tmp_path))
    with pytest.raises(TaskError, match="too short for sequence length 8"):
        text_task(write(tmp_path, b"abcdefghij" * 3))


def test_text_task_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, b"some text " * 50)
    if os.geteuid() != 0:
        os.chmod(path, 0)
    else:  # root reads files whatever their mode: refuse the read as the kernel would

        def refuse(self):
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr("pathlib.Path.read_bytes", refuse)
    with pytest.raises(TaskError, match="permission denied"):
        text_task(path)


def test_a_text_file_and_a_checkpoint_that_cannot_be_read_are_said_so_in_the_same_words(tmp_path):
    missing = str(tmp_path / "missing")
    errors = []
    for read in (text_task, checkpoint.load):
        for path in (missing, str(tmp_path)):
            with pytest.raises(ValueError) as caught:
                read(path)
            errors.append(str(caught.value))
    assert errors == [f"{missing}: no such file", f"{tmp_path}: is a directory, not a text file"] + [
        f"{missing}: no such file",
        f"{tmp_path}: is a directory, not a checkpoint",
    ]


def test_a_new_synthetic_task_is_one_entry_of_the_rules(monkeypatch):
    shift = TaskRules("shift", lambda tokens, vocab_size: np.roll(tokens, 1, axis=1), train=TASK_RULES["copy"].train)
    monkeypatch.setitem(TASK_RULES, "shift", shift)
    t = make_synthetic_task("shift", vocab_size=10, seq_len=5, samples=50, val_samples=10, seed=0)
    np.testing.assert_array_equal(t.train_targets, np.roll(t.train_tokens, 1, axis=1))
    assert t.rules is shift and not t.needs_causal
    np.testing.assert_array_equal(t.targets_for(t.parse("1 2 3")), [[3, 1, 2]])


@pytest.mark.parametrize("name", list(TASK_RULES))
def test_each_task_follows_its_rules(name, tmp_path):
    rules = TASK_RULES[name]
    data = write(tmp_path, b"some text to read. " * 40) if rules.reads_file else None
    t = make_task(TrainConfig(task=name, data=data, samples=40, val_samples=10), vocab_size=20, seq_len=4)
    assert t.rules is rules and t.needs_causal == rules.needs_causal and (t.chars is not None) == rules.reads_file
    if not rules.reads_file:  # a file's windows bring their own targets; random sequences take the rule's
        np.testing.assert_array_equal(t.train_targets, rules.targets(t.train_tokens, t.vocab_size))
