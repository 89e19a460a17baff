"""Pictures a learner would rather look at than read: requests per pod, and the failover timeline.

Who calls it: the notebooks (and ``report``), on rows from ``traffic`` and results from ``stats``.

Each function returns a ``matplotlib.figure.Figure`` (a ``PngFigure``) built without pyplot (no global state,
no duplicate display); it has ``_repr_png_``, so a notebook shows it as a PNG (jupyter-toolchain.md §6: static
PNG renders on GitHub and nbval ignores images). Sizes and styles are fixed and nothing random is drawn, so the
same data gives the same picture. ``to_png(fig)`` gives the bytes for reports.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["plot_requests_per_pod", "plot_failover_timeline", "plot_step_times", "to_png", "to_svg"]

SIZE_BARS = (6.4, 3.2)
SIZE_TIMELINE = (8.0, 3.6)
SIZE_HISTOGRAM = (8.0, 2.8)
DPI = 100
COLORS = {"ok": "#2068F3", "fail": "#cf222e", "band": "#8c959f", "mark": "#6e7781"}
FAIL_ROW = "failed"


class PngFigure(Figure):
    """A Figure that shows itself as a PNG in any notebook, even one that never imported pyplot."""

    def _repr_png_(self) -> bytes:
        return to_png(self)


def _figure(size: tuple[float, float]) -> PngFigure:
    fig = PngFigure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp in the metadata, so equal figures give equal bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def to_svg(fig: Figure) -> str:
    """The figure as an SVG document (no date in the metadata, text as paths: the same in every browser)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def plot_step_times(seconds: Any, *, slow: float | None = None, title: str | None = None) -> Figure:
    """Histogram of step times (seconds) over a room: how many steps took how long.

    ``slow``: a threshold drawn as a dashed line (e.g. the steps' 95th percentile), labelled.
    """
    values = pd.Series(list(seconds), dtype=float).dropna()
    fig = _figure(SIZE_HISTOGRAM)
    ax = fig.add_subplot()
    bins = min(40, max(5, int(len(values) ** 0.5))) if len(values) else 5
    ax.hist(values.to_numpy(), bins=bins, color=COLORS["ok"], edgecolor="white", linewidth=0.5)
    if slow is not None:
        ax.axvline(slow, color=COLORS["mark"], linestyle="--", linewidth=1)
        ax.annotate(f"{slow:.1f} s", (slow, 1), xycoords=("data", "axes fraction"), fontsize=8, ha="left",
                    va="top", xytext=(3, -2), textcoords="offset points", color=COLORS["mark"])
    ax.set_xlabel("seconds per step")
    ax.set_ylabel("steps")
    ax.set_title(title or f"{len(values)} steps", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _counts(data: Any) -> pd.Series:
    if isinstance(data, pd.DataFrame):
        data = data["pod"].dropna().value_counts()
    elif isinstance(data, Mapping):
        data = pd.Series(dict(data))
    elif not isinstance(data, pd.Series):
        data = pd.Series(list(data)).dropna().value_counts()
    elif data.dtype.kind not in "iu":
        data = data.dropna().value_counts()
    return data.astype(int).sort_index()


def plot_requests_per_pod(data: Any, *, check: Any = None, title: str | None = None) -> Figure:
    """Bar chart of requests per pod.

    ``data``: ``send_requests`` rows, a list of pod names, or counts (``logs.requests_per_pod``). With
    ``check`` (a ``stats.DistributionCheck``) the allowed range per pod is drawn as a grey band and the
    bars outside it are red; pods the check expected but that got nothing show as empty bars.
    """
    counts = _counts(data)
    if check is not None:
        counts = pd.Series({p: int(counts.get(p, 0)) for p in check.table["pod"]} | counts.to_dict()).sort_index()
    fig = _figure(SIZE_BARS)
    ax = fig.add_subplot()
    pods = list(counts.index.astype(str))
    colors = [COLORS["ok"]] * len(pods)
    if check is not None:
        allowed = check.table.set_index("pod")
        for i, pod in enumerate(pods):
            if pod in allowed.index:
                lo, hi = int(allowed.at[pod, "low"]), int(allowed.at[pod, "high"])
                ax.fill_between([i - 0.45, i + 0.45], lo, hi, color=COLORS["band"], alpha=0.3, linewidth=0)
                colors[i] = COLORS["ok"] if lo <= counts.iloc[i] <= hi else COLORS["fail"]
            else:
                colors[i] = COLORS["fail"]
    bars = ax.bar(range(len(pods)), counts.to_numpy(), color=colors, width=0.6)
    ax.bar_label(bars, padding=2)
    few = len(pods) <= 4
    ax.set_xticks(range(len(pods)), [_short(p) for p in pods], rotation=0 if few else 30,
                  ha="center" if few else "right")
    ax.set_ylabel("requests")
    ax.set_ylim(0, max([1, *counts.to_numpy(), *(check.table["high"] if check is not None else [])]) * 1.2)
    ax.set_title(title or _bars_title(counts, check), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _bars_title(counts: pd.Series, check: Any) -> str:
    head = f"{int(counts.sum())} requests over {len(counts)} pods"
    if check is None:
        return head
    return f"{head}: {'PASS' if check.ok else 'FAIL'} ({check.policy}, grey = allowed range)"


def _short(pod: str, width: int = 28) -> str:
    return pod if len(pod) <= width else "…" + pod[-(width - 1):]


def plot_failover_timeline(
    timeline: pd.DataFrame, *, marks: Sequence[Mapping[str, Any]] | None = None, title: str | None = None
) -> Figure:
    """Time on x, answering pod on y; failed requests in a red ``failed`` row; marks as dashed lines.

    ``timeline``: ``TrafficSampler.stop()`` or ``send_requests`` rows (columns ``t``, ``pod``, ``status``,
    ``error``). ``marks`` default to ``timeline.attrs["marks"]`` (``sampler.mark("pod deleted")``).
    """
    marks = list(timeline.attrs.get("marks", [])) if marks is None else list(marks)
    bad = timeline["error"].notna() | (timeline["status"].fillna(0) >= 500)
    good = timeline[~bad & timeline["pod"].notna()]
    pods = sorted(good["pod"].astype(str).unique())
    rows = {pod: i + 1 for i, pod in enumerate(pods)}
    fig = _figure(SIZE_TIMELINE)
    ax = fig.add_subplot()
    ax.scatter(good["t"], good["pod"].astype(str).map(rows), s=14, color=COLORS["ok"], label="answered")
    failed = timeline[bad]
    if len(failed):
        ax.scatter(failed["t"], [0] * len(failed), s=22, marker="x", color=COLORS["fail"], label="failed")
    for mark in marks:
        ax.axvline(float(mark["t"]), color=COLORS["mark"], linestyle="--", linewidth=1)
        ax.annotate(str(mark["label"]), (float(mark["t"]), len(pods) + 0.6), fontsize=8, ha="left",
                    xytext=(3, 0), textcoords="offset points", color=COLORS["mark"])  # fmt: skip
    ax.set_yticks(range(len(pods) + 1), [FAIL_ROW] + [_short(p) for p in pods])
    ax.set_ylim(-0.6, len(pods) + 1)
    ax.set_xlabel(f"{timeline.attrs.get('clock', 'seconds')} since the first request")
    ax.set_title(title or _timeline_title(timeline, bad), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", linewidth=0.3)
    return fig


def _timeline_title(timeline: pd.DataFrame, bad: pd.Series) -> str:
    return f"{len(timeline)} requests, {int(bad.sum())} failed"
