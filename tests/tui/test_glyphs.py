"""The small drawings the panels are made of: sparklines, shades, log-scale bars."""

import math

from tfnp_tui.widgets.glyphs import log_bar, probability, shade, sparkline


def test_sparkline_scales_between_min_and_max():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8], 8) == "▁▂▃▄▅▆▇█"
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8], 3) == "▁▅█"  # the last `width` values
    assert sparkline([5, 5], 2) == "▁▁"
    assert sparkline([], 5) == "" and sparkline([1, 2], 0) == ""


def test_sparkline_keeps_a_blank_where_a_value_cannot_be_drawn():
    assert sparkline([1, math.nan, 3], 3) == "▁ █"  # in step with the others
    assert sparkline([1, 0, 100], 3, log=True) == "▁ █"  # 0 has no logarithm


def test_a_log_sparkline_with_a_minimum_span_keeps_small_changes_small():
    assert sparkline([1.0, 1.01], 2, log=True) == "▁█"  # alone, any change fills the height
    assert sparkline([1.0, 1.01], 2, log=True, min_span=1.0) == "▄▅"  # a tenth of a decade: a step
    assert sparkline([1, 10, 100], 3, log=True, min_span=1.0) == "▁▅█"  # two decades: the full height


def test_shades_bars_and_probabilities():
    assert [shade(w) for w in (0.0, 0.1, 0.4, 0.6, 1.0)] == [" ", "░", "▒", "▓", "█"]
    assert log_bar(1e3, 1e-8, 1e3, 4) == "████" and log_bar(1e-9, 1e-8, 1e3, 4) == "    "
    assert log_bar(math.nan, 1e-8, 1e3, 2) == "██"  # not finite: the full bar, marked red by the panel
    assert len(log_bar(1e-2, 1e-8, 1e3, 10)) == 10
    assert [probability(p) for p in (0.999, 0.97, 0.004)] == ["1.0", ".97", ".00"]
