"""Per-task defaults: each task's table row is applied, flags win, another optimizer brings its
own learning rate, saved configs resume as they were, and a task learns with its defaults."""

import dataclasses

import pytest

from engine import ModelConfig, TrainConfig
from engine.config import LR_DEFAULTS, TASK_DEFAULTS, TASK_MODEL_DEFAULTS, TASKS, model_defaults
from engine.training import checkpoint
from engine.training.task_rules import TASK_RULES
from engine.training.trainer import Trainer
from tfnp_tui.cli import build, build_parser

ORIGINAL_TRAIN = dict(task="next", optimizer="sgd", lr=0.01, schedule="constant", batch_size=1, epochs=20,
                      samples=200, val_samples=200, warmup=0, clip=0.0, seed=0)  # fmt: skip
ORIGINAL_MODEL = dict(vocab_size=20, seq_len=4, d_model=32, n_heads=1, n_layers=1, d_ff=64, causal=False,
                      norm_first=False, activation="relu", dtype="float32")  # fmt: skip


def made(task: str, **kw) -> TrainConfig:
    return TrainConfig(task=task, data="book.txt" if TASK_RULES[task].reads_file else None, **kw)


def test_no_arguments_give_the_original_setup_exactly():
    train = TrainConfig().to_dict()
    assert {k: train[k] for k in ORIGINAL_TRAIN} == ORIGINAL_TRAIN
    assert ModelConfig().to_dict() == ORIGINAL_MODEL
    assert model_defaults("next") == {}


@pytest.mark.parametrize("task", TASKS)
def test_each_task_takes_its_row(task):
    cfg = made(task).to_dict()
    assert {k: cfg[k] for k in TASK_DEFAULTS[task]} == TASK_DEFAULTS[task]


def test_flags_win_over_the_task_defaults():
    given = dict(optimizer="momentum", lr=0.05, schedule="constant", batch_size=8, epochs=2, samples=100,
                 val_samples=10)  # fmt: skip
    cfg = made("sort", **given).to_dict()
    assert {k: cfg[k] for k in given} == given


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("optimizer", LR_DEFAULTS)
def test_another_optimizer_than_the_tasks_brings_its_own_lr(task, optimizer):
    own = TASK_DEFAULTS[task]
    expected = own["lr"] if optimizer == own["optimizer"] else LR_DEFAULTS[optimizer]
    assert made(task, optimizer=optimizer).lr == expected


def test_sgd_on_a_task_whose_default_is_adam_gets_sgds_lr():
    assert TASK_DEFAULTS["sort"]["optimizer"] == "adam" and TASK_DEFAULTS["sort"]["lr"] != LR_DEFAULTS["sgd"]
    assert made("sort", optimizer="sgd").lr == LR_DEFAULTS["sgd"]
    assert made("sort").lr == TASK_DEFAULTS["sort"]["lr"]


def test_model_defaults_are_fields_under_the_flags():
    for task in TASKS:
        ModelConfig(**model_defaults(task))  # every row makes a valid model
        assert set(model_defaults(task)) <= {f.name for f in dataclasses.fields(ModelConfig)}
    assert model_defaults("text")["causal"] is True
    flags = dict(d_model=32, n_heads=2)
    cfg = ModelConfig(**{**model_defaults("text"), **flags})
    assert (cfg.d_model, cfg.n_heads, cfg.seq_len) == (32, 2, TASK_MODEL_DEFAULTS["text"]["seq_len"])
    model_defaults("text")["seq_len"] = 1  # a fresh dict each time: the table stays as it is
    assert model_defaults("text") == TASK_MODEL_DEFAULTS["text"]
    with pytest.raises(ValueError, match="task: must be one of"):
        model_defaults("translate")


def test_a_config_saved_before_per_task_optimizers_loads_as_it_was():
    # what a checkpoint of `--task copy` held when SGD was every task's default
    old = dict(task="copy", data=None, samples=2000, val_samples=500, optimizer="sgd", lr=0.01, momentum=0.9,
               beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, batch_size=32, epochs=10, seed=0, clip=0.0,
               schedule="constant", warmup=0, device="cpu")  # fmt: skip
    assert TrainConfig(**old).to_dict() == {**old, "dropout": 0.0, "patience": 0}  # fields added since: off
    for task in TASKS:  # and a new config round-trips through its saved dict
        cfg = made(task)
        assert TrainConfig(**cfg.to_dict()) == cfg


def test_resuming_keeps_the_saved_optimizer(tmp_path):
    path = tmp_path / "copy-sgd.npz"
    trainer = Trainer(ModelConfig(), made("copy", optimizer="sgd", samples=64, val_samples=16, epochs=1))
    trainer.run_epoch()
    checkpoint.save(path, trainer)
    resumed = build(build_parser().parse_args(["--headless", "--load", str(path), "--epochs", "2"])).trainer
    assert (resumed.train_cfg.optimizer, resumed.train_cfg.lr, resumed.step_count) == ("sgd", 0.01, trainer.step_count)
    other = build(build_parser().parse_args(["--headless", "--load", str(path), "--optimizer", "adam"])).trainer
    assert (other.train_cfg.optimizer, other.train_cfg.lr) == ("adam", TASK_DEFAULTS["copy"]["lr"])


def test_copy_learns_with_its_defaults():
    trainer = Trainer(ModelConfig(**model_defaults("copy")), TrainConfig(task="copy"))
    while not trainer.finished:
        report = trainer.run_epoch()
    assert report.val_acc == 1.0 and report.val_loss < 0.05


def test_the_tables_are_views_of_the_task_rules():
    assert TASKS == tuple(TASK_RULES)
    for task, rules in TASK_RULES.items():
        assert TASK_DEFAULTS[task] == rules.train and model_defaults(task) == rules.model_defaults()
        assert model_defaults(task).get("causal", False) == rules.needs_causal  # a task that needs it gets it
    assert set(TASK_MODEL_DEFAULTS) == {task for task in TASKS if model_defaults(task)}
