"""plots: figures are built, carry the data, and are deterministic (same data, same PNG bytes)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ambient_lb.plots import SIZE_BARS, SIZE_TIMELINE, plot_failover_timeline, plot_requests_per_pod, to_png
from ambient_lb.stats import check_distribution

A, B, C = "in-ambient-7d8f9b6c54-abc12", "in-ambient-7d8f9b6c54-def34", "in-ambient-7d8f9b6c54-ghi56"


def test_bars_show_counts_per_pod_and_color_the_check():
    check = check_distribution([A, B, A, B], "ROUND_ROBIN", expected_pods=[A, B, C])
    fig = plot_requests_per_pod([A, B, A, B], check=check)
    assert isinstance(fig, Figure) and tuple(fig.get_size_inches()) == SIZE_BARS
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches if p.get_width() == 0.6]
    assert heights == [2, 2, 0]
    assert [t.get_text() for t in ax.get_xticklabels()][2].endswith("ghi56")
    assert "FAIL" in ax.get_title()


def test_bars_accept_counts_series():
    fig = plot_requests_per_pod(pd.Series({B: 5, A: 4}))
    assert [p.get_height() for p in fig.axes[0].patches] == [4, 5]
    assert fig.axes[0].get_title() == "9 requests over 2 pods"


def _timeline():
    df = pd.DataFrame({"t": [0.0, 0.1, 0.2, 0.3, 0.4], "pod": [A, B, None, B, C],
                       "status": pd.array([200, 200, None, 200, 200], dtype="Int64"),
                       "error": [None, None, "timeout", None, None]})  # fmt: skip
    df.attrs["marks"] = [{"t": 0.15, "label": "pod deleted"}]
    return df


def test_timeline_puts_failures_on_their_own_row_and_marks_the_disruption():
    fig = plot_failover_timeline(_timeline())
    assert tuple(fig.get_size_inches()) == SIZE_TIMELINE
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["failed", A, B, C]
    answered, failed = ax.collections[0].get_offsets(), ax.collections[1].get_offsets()
    assert answered.tolist() == [[0.0, 1.0], [0.1, 2.0], [0.3, 2.0], [0.4, 3.0]]
    assert failed.tolist() == [[0.2, 0.0]]
    assert [t.get_text() for t in ax.texts] == ["pod deleted"]
    assert ax.get_title() == "5 requests, 1 failed"


def test_same_data_gives_identical_png_bytes():
    one, two = to_png(plot_failover_timeline(_timeline())), to_png(plot_failover_timeline(_timeline()))
    assert one == two and one[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_render_themselves_as_png_for_notebooks():
    fig = plot_requests_per_pod([A, B])
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
