"""Metrics files written by hand for the tests of runs side by side: a header as a run writes
it (tfnp_tui/metrics.py) and epoch records with smooth, made-up curves."""

from __future__ import annotations

import json
import math

from engine import ModelConfig, TrainConfig


def header(model: dict | None = None, train: dict | None = None, step: int = 0) -> dict:
    """The header record of a reverse run with these ModelConfig and TrainConfig fields changed."""
    model_cfg = ModelConfig(**{"seq_len": 6, **(model or {})})
    train_cfg = TrainConfig(**{"task": "reverse", **(train or {})})
    return {"record": "header", "version": "test", "model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
            "task": train_cfg.task, "step": step}  # fmt: skip


def records(epochs: int, start: float = 3.0, floor: float = 0.2, rate: float = 0.3, steps_per_epoch: int = 10,
            scales: dict[int, float] | None = None) -> list[dict]:  # fmt: skip
    """Epoch records whose losses fall from `start` toward `floor`; scales: epoch -> lr_scale from it on."""
    out, scale = [], 1.0
    for e in range(1, epochs + 1):
        scale = (scales or {}).get(e, scale)
        loss = floor + (start - floor) * math.exp(-rate * e)
        out.append({"epoch": e, "step": e * steps_per_epoch, "loss": loss, "acc": 1 - loss / start,
                    "val_loss": loss * 1.1, "val_acc": 1 - 1.1 * loss / start, "lr": 1e-3 * scale,
                    "grad_norm": 1.0, "seconds": 0.5 * e, "lr_scale": scale})  # fmt: skip
    return out


def write(path, *lines: dict | list[dict]) -> str:
    """Write records (or lists of them) one a line; the path as a string."""
    flat = [r for item in lines for r in (item if isinstance(item, list) else [item])]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in flat)
    return str(path)
