"""Short human descriptions of a run, shared by the headless output and the lab."""

from __future__ import annotations

from engine.trainer import Trainer


def model_summary(trainer: Trainer) -> str:
    """'L2 H2 d32 ff64 post-LN relu' and the flags that change the defaults."""
    m = trainer.model_cfg
    parts = [
        f"L{m.n_layers} H{m.n_heads} d{m.d_model} ff{m.d_ff}",
        "pre-LN" if m.norm_first else "post-LN",
        m.activation,
    ]
    if m.causal:
        parts.append("causal")
    if m.dtype != "float32":
        parts.append(m.dtype)
    return " ".join(parts)


def optimizer_summary(trainer: Trainer) -> str:
    """'adam lr 1.0e-03' plus schedule, warm-up and clipping when used."""
    t = trainer.train_cfg
    parts = [f"{t.optimizer} lr {t.lr:.1e}"]
    if t.schedule != "constant":
        parts.append(t.schedule)
    if t.warmup:
        parts.append(f"warmup {t.warmup}")
    if t.clip:
        parts.append(f"clip {t.clip:g}")
    return " ".join(parts)


def describe(trainer: Trainer) -> str:
    """One line: task, model, optimizer, data, size, device."""
    t = trainer.train_cfg
    return (
        f"tfnp  task {t.task}  {model_summary(trainer)}  {optimizer_summary(trainer)}  "
        f"{len(trainer.task.train_tokens)} samples  batch {t.batch_size}  {t.epochs} epochs  seed {t.seed}  "
        f"{trainer.model.num_params:,} params  {trainer.model.device}"
    )
