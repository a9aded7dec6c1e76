"""How the lab and the command line print a figure that can be anything (a loss that diverged)."""

from __future__ import annotations

import math


def loss_text(x: float, decimals: int = 4) -> str:
    """Fixed point while it reads well ('0.0831'); short scientific form when it is huge or
    tiny ('8.54e+21', '3.10e-07'); 'nan' or 'inf' when it is not finite."""
    if not math.isfinite(x):
        return str(x)
    if x != 0 and not 1e-4 <= abs(x) < 1e4:
        return f"{x:.2e}"
    return f"{x:.{decimals}f}"


def plural(n: int, word: str) -> str:
    """'1 step', '2 steps', '1,260 steps'."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def factor_text(scale: float) -> str:
    """The factor on the learning rate: '×2', '×1/4', '×1'."""
    return f"×{scale:g}" if scale >= 1 else f"×1/{1 / scale:g}"


def rate_text(lr: float, scale: float = 1.0) -> str:
    """'lr 5.0e-03', and the factor the lab's keys put on the schedule when it is not 1:
    'lr 5.0e-03 ×1/2'."""
    return f"lr {lr:.1e}" + (f" {factor_text(scale)}" if scale != 1 else "")
