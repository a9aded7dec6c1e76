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
