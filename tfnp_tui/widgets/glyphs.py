"""Small text drawings the panels share: sparklines, shaded cells, log-scale bars."""

from __future__ import annotations

import math
from collections.abc import Sequence

SPARKS = "▁▂▃▄▅▆▇█"
SHADES = " ░▒▓█"
EIGHTHS = " ▏▎▍▌▋▊▉█"


def sparkline(values: Sequence[float], width: int, log: bool = False, min_span: float = 0.0) -> str:
    """The last `width` values as block characters, scaled between their min and max; a
    value that cannot be drawn (not finite; not positive on a log scale) is a blank.
    log: scale log10 of the values. min_span: the scale spans at least this much, centred
    on the values, so that small changes stay small."""
    drawn = [_drawable(v, log) for v in values[-width:]] if width > 0 else []
    known = [v for v in drawn if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = max(high - low, min_span)
    low = (low + high - span) / 2
    top = len(SPARKS) - 1

    def spark(v: float | None) -> str:
        if v is None:
            return " "
        return SPARKS[0] if span <= 0 else SPARKS[min(top, int((v - low) / span * top + 0.5))]

    return "".join(spark(v) for v in drawn)


def _drawable(value: float, log: bool) -> float | None:
    """The value on the sparkline's scale, or None where it cannot be drawn."""
    if not math.isfinite(value) or (log and value <= 0):
        return None
    return math.log10(value) if log else value


def shade(weight: float) -> str:
    """One of ' ░▒▓█' for a weight in [0, 1]: the same scale as the colour, for readers without colour."""
    if not math.isfinite(weight):
        return "?"
    return SHADES[max(0, min(len(SHADES) - 1, int(weight * 4 + 0.75)))]  # 0.06 ░  0.31 ▒  0.56 ▓  0.81 █


def log_bar(value: float, low: float, high: float, width: int) -> str:
    """A bar whose length is log10(value) between low and high, drawn in eighths of a cell."""
    if width <= 0:
        return ""
    if not math.isfinite(value) or value >= high:
        return EIGHTHS[-1] * width
    if value <= low:
        return " " * width
    fraction = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
    eighths = int(round(fraction * width * 8))
    full, part = divmod(eighths, 8)
    return (EIGHTHS[-1] * full + (EIGHTHS[part] if part else "")).ljust(width)


def probability(p: float) -> str:
    """A probability in three characters: .97, 1.0, .00."""
    return "1.0" if p >= 0.995 else f"{p:.2f}"[1:]


def fitting(width: int, *choices: str) -> str:
    """The first of `choices` (the longest first) that fits in `width` columns, else the last."""
    return next((words for words in choices if len(words) <= width), choices[-1])
