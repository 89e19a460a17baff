"""How a step shows up in a notebook: the result always, widgets only for a person at the keyboard.

Notebook cells call :func:`step` (via ``guide``): running the cell *is* the step. The result is
displayed as an ordinary mime bundle (text/plain, text/html, the step record), headless or not.
Only in interactive mode (not ``AMBIENT_LB_HEADLESS=1``, which the runner sets) a step card adds a
Re-check button that runs the same check again, a Run button that re-runs the step, sliders for
knobs such as the request count, and a live traffic chart while a pod is deleted. Headless runs
create no widget at all: widget state would not render and only makes outputs unstable.

A failed step raises :class:`~ambient_lb.errors.CheckFailed` after showing its result, so papermill
stops there and the runner names the first failed check.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .checks import StepResult
from .errors import CheckFailed

_YES = {"1", "true", "yes", "on"}


def is_interactive(explicit: bool | None = None) -> bool:
    """Explicit choice if given, else interactive unless ``AMBIENT_LB_HEADLESS`` is set."""
    if explicit is not None:
        return bool(explicit)
    return os.environ.get("AMBIENT_LB_HEADLESS", "").strip().lower() not in _YES


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def step(run: Callable[[], StepResult], *, recheck: Callable[[], StepResult] | None = None,
         interactive: bool | None = None, raise_on_fail: bool = True,
         knobs: dict[str, tuple[int, int, int]] | None = None) -> StepResult:
    """Run a step now, show its result, add a step card when a person is at the keyboard.

    Args:
        run: does the step and returns its result (the Run button calls it again).
        recheck: re-evaluates only the checks (the Re-check button); defaults to ``run``.
        knobs: slider name -> (min, max, value); sliders pass their value to ``run`` as keywords.
    """
    result = run()
    _display(result)
    if is_interactive(interactive):
        _display(step_card(run, recheck or run, knobs or {}))
    if raise_on_fail and not result.ok:
        failed = result.first_failure
        hint = f" Hint: {failed.hint}" if failed and failed.hint else ""
        what = f"{failed.name}: {failed.detail}" if failed else "a check failed"
        raise CheckFailed(f"step {result.step} ({result.title}) failed: {what}.{hint}")
    return result


def step_card(run: Callable[..., StepResult], recheck: Callable[..., StepResult],
              knobs: dict[str, tuple[int, int, int]]) -> Any:
    """Buttons and sliders over an Output area; each click shows a fresh result."""
    import ipywidgets as w

    out = w.Output()
    sliders = {name: w.IntSlider(value=v, min=lo, max=hi, description=name)
               for name, (lo, hi, v) in knobs.items()}
    status = w.HTML("")

    def _runner(fn: Callable[..., StepResult], label: str) -> Callable[[Any], None]:
        def _on_click(button: Any) -> None:
            button.disabled = True
            status.value = f"<i>{label}…</i>"
            try:
                r = fn(**{k: s.value for k, s in sliders.items()})
                out.clear_output(wait=True)
                with out:
                    _display(r)
                status.value = _badge(r)
            except Exception as exc:  # shown in the card, the notebook keeps going
                status.value = f"<b style='color:#cf222e'>error: {type(exc).__name__}: {exc}</b>"
            finally:
                button.disabled = False
        return _on_click

    recheck_btn = w.Button(description="Re-check", icon="refresh", tooltip="run the checks again")
    run_btn = w.Button(description="Run step again", icon="play", tooltip="re-run the step")
    recheck_btn.on_click(_runner(_drop_kwargs(recheck), "checking"))
    run_btn.on_click(_runner(run if sliders else _drop_kwargs(run), "running"))
    return w.VBox([w.HBox([recheck_btn, run_btn, status]), *sliders.values(), out])


def _drop_kwargs(fn: Callable[[], StepResult]) -> Callable[..., StepResult]:
    return lambda **_: fn()


def _badge(r: StepResult) -> str:
    colour = "#1a7f37" if r.ok else "#cf222e"
    return f"<b style='color:{colour}'>{'PASS' if r.ok else 'FAIL'}</b> {len(r.checks)} checks"


def figure(fig: Any) -> None:
    """Show a matplotlib Figure once, as a PNG, and free it."""
    import matplotlib.pyplot as plt

    _display(fig)
    plt.close(fig)


def table(df: Any, caption: str = "") -> None:
    """Show a pandas DataFrame (text/plain + text/html, both compared by nbval)."""
    if caption:
        _display(_Caption(caption))
    _display(df)


class _Caption:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html

        return f"<p><b>{html.escape(self.text)}</b></p>"


class LiveChart:
    """A live chart of the traffic while a step runs; interactive mode only.

    ``start(source, draw)`` redraws ``draw(source())`` (a matplotlib Figure from the sampler's
    timeline) every ``period`` seconds on a background thread until ``stop()``. Headless, every
    method is a no-op: the step shows its final plot as a PNG instead.
    """

    def __init__(self, interactive: bool | None = None, title: str = "live traffic",
                 period: float = 0.5) -> None:
        import threading

        self.enabled = is_interactive(interactive)
        self.period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._out: Any = None
        if self.enabled:
            import ipywidgets as w

            self._out = w.Output()
            _display(w.VBox([w.HTML(f"<b>{title}</b>"), self._out]))

    def start(self, source: Callable[[], Any], draw: Callable[[Any], Any]) -> LiveChart:
        """Starts redrawing the chart from source() in the background (only where widgets are shown)."""
        import threading

        if self.enabled:
            self._thread = threading.Thread(target=self._loop, args=(source, draw), daemon=True,
                                            name="ambient-lb-live-chart")
            self._thread.start()
        return self

    def _loop(self, source: Callable[[], Any], draw: Callable[[Any], Any]) -> None:
        while not self._stop.wait(self.period):
            try:
                self.update(source(), draw)
            except Exception:  # a failed redraw must never break the step
                continue

    def update(self, data: Any, draw: Callable[[Any], Any]) -> None:
        """Redraws the chart with draw(data)."""
        if not self.enabled or self._out is None:
            return
        import matplotlib.pyplot as plt

        fig = draw(data)
        self._out.clear_output(wait=True)
        with self._out:
            _display(fig)
        plt.close(fig)

    def stop(self) -> None:
        """Stops the background redraws."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LiveChart:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
