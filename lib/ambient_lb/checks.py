"""Live checks: what a step proves, shown the same way to a person, to nbval and to the runner.

``guide.py`` builds a :class:`StepResult` per notebook cell: the commands the step ran (the lines a
learner would type), what came back, callouts where the guide differs from the real system, and
:class:`CheckResult` objects (pass/fail, evidence, hint, attempts, time to pass, and on failure the
object's condition reason and message). ``ui.py`` displays them; ``runner.py`` reads them back out of
the executed notebooks.

Each result renders as one mime bundle:

- ``text/plain`` – stable words for nbval and logs (timings inside ``(… attempts, … s)``, sanitized);
- ``text/html`` – a card for people (JupyterLab, GitHub, nbconvert offline);
- ``application/vnd.ambient-lb.step+json`` – the stable part of the record (step, checks, pass/fail),
  which nbval compares as a dict; the varying part (attempts, seconds, commands, evidence) goes in
  the output's metadata under the same key, which nbval never compares and the runner merges back.

Waits: :func:`poll` retries a probe until it has passed ``consecutive`` times in a row or the timeout
runs out (a bounded poll, for evidence that has no watch: traffic, logs, admin stats).
:func:`from_wait` turns a watch-based wait of ``kube.py`` into a check.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

STEP_MIME = "application/vnd.ambient-lb.step+json"

# A probe answers (passed?, evidence one-liner). It may raise; the error becomes the evidence.
Probe = Callable[[], "tuple[bool, str]"]


@dataclass
class CheckResult:
    """One thing a step proves, with the evidence and what to try when it fails."""

    name: str
    ok: bool
    detail: str = ""
    hint: str = ""
    reason: str = ""  # the object's condition reason/message (failures), or the last error seen
    attempts: int = 1
    seconds: float = 0.0  # time to pass (or time spent failing)
    skipped: bool = False  # not applicable on this target (counts as passed)

    @property
    def status(self) -> str:
        """PASS, FAIL or SKIP."""
        return "SKIP" if self.skipped else ("PASS" if self.ok else "FAIL")

    def stable(self) -> dict[str, Any]:
        """The part of the record that is the same on every run of the same target."""
        return {"name": self.name, "status": self.status}

    def to_dict(self) -> dict[str, Any]:
        """The whole record for summary.json: the stable part plus detail, hint, reason, attempts and seconds."""
        return {**self.stable(), "ok": self.ok, "detail": self.detail, "hint": self.hint,
                "reason": self.reason, "attempts": self.attempts, "seconds": round(self.seconds, 3)}

    def timing(self) -> str:
        """How long the check took, e.g. ``(2 attempts, 0.41 s)``."""
        n = "attempt" if self.attempts == 1 else "attempts"
        return f"({self.attempts} {n}, {self.seconds:.2f} s)"

    def __repr__(self) -> str:
        line = f"[{self.status}] {self.name}: {self.detail}"
        if not self.skipped:
            line += f" {self.timing()}"
        if not self.ok:
            if self.reason:
                line += f"\n       seen: {self.reason}"
            if self.hint:
                line += f"\n       hint: {self.hint}"
        return line

    def _repr_html_(self) -> str:
        return f"<table class='alb-checks'>{check_row_html(self)}</table>"


_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "SKIP": "#6e7781"}


def check_row_html(c: CheckResult) -> str:
    """One check as an HTML table row for a step card, with what was seen and the hint when it failed."""
    e = html.escape
    extra = ""
    if not c.ok:
        if c.reason:
            extra += f"<br><b>seen:</b> {e(c.reason)}"
        if c.hint:
            extra += f"<br><b>try:</b> {e(c.hint)}"
    timing = "" if c.skipped else f" <span class='alb-timing'>{e(c.timing())}</span>"
    return (f"<tr><td style='color:{_COLOURS[c.status]};font-weight:bold'>{c.status}</td>"
            f"<td><b>{e(c.name)}</b>: {e(c.detail)}{timing}{extra}</td></tr>")


@dataclass
class StepResult:
    """What one notebook cell did: commands, what came back, callouts, checks."""

    step: str  # "02.3" – notebook number . step number
    title: str
    commands: list[str] = field(default_factory=list)  # the lines a learner would type
    outputs: list[str] = field(default_factory=list)  # what each command printed (same order)
    output: str = ""  # anything else the step shows (a rendered manifest, a table as text)
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # values later cells use (not displayed)
    seconds: float = 0.0  # wall time the step took (the room report's time per step)

    @property
    def ok(self) -> bool:
        """True when every check passed (a step without checks passes)."""
        return all(c.ok for c in self.checks)

    @property
    def first_failure(self) -> CheckResult | None:
        """The first check that failed, or None."""
        return next((c for c in self.checks if not c.ok), None)

    def add(self, *checks: CheckResult) -> StepResult:
        """Adds checks to the step and returns the step (for chaining)."""
        self.checks.extend(checks)
        return self

    def stable(self) -> dict[str, Any]:
        """The part of the record that is the same on every run of the same target (step, title, ok, checks)."""
        return {"step": self.step, "title": self.title, "ok": self.ok,
                "checks": [c.stable() for c in self.checks]}

    def to_dict(self) -> dict[str, Any]:
        """The whole record for summary.json: commands, notes and every check's full record."""
        return {"step": self.step, "title": self.title, "ok": self.ok, "commands": self.commands,
                "notes": self.notes, "checks": [c.to_dict() for c in self.checks],
                "seconds": round(self.seconds, 3)}

    def __repr__(self) -> str:
        lines = [f"== {self.step} {self.title}: {'PASS' if self.ok else 'FAIL'}"]
        lines += transcript(self)
        if self.output:  # set apart, so nobody reads it as the last command's output
            lines += [OUTPUT_HEADER, self.output.rstrip("\n")]
        lines += [f"NOTE: {n}" for n in self.notes]
        lines += [repr(c) for c in self.checks]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return step_card_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        data = {"text/plain": repr(self), "text/html": self._repr_html_(), STEP_MIME: self.stable()}
        return data, {STEP_MIME: self.to_dict()}


MAX_OUTPUT_LINES = 25
OUTPUT_HEADER = "-- worked out by the runbook from the outputs above --"


def transcript(s: StepResult) -> list[str]:
    """``$ command`` lines, each followed by what it printed (long outputs cut, with a marker)."""
    lines: list[str] = []
    for i, cmd in enumerate(s.commands):
        lines.append(f"$ {cmd}")
        out = (s.outputs[i] if i < len(s.outputs) else "").rstrip("\n").splitlines()
        if len(out) > MAX_OUTPUT_LINES:
            out = out[:MAX_OUTPUT_LINES] + [f"... ({len(out) - MAX_OUTPUT_LINES} more lines)"]
        lines += out
    return lines


def step_card_html(s: StepResult) -> str:
    """One step as an HTML card: its status, commands, output, notes and a row per check."""
    e = html.escape
    colour = _COLOURS["PASS" if s.ok else "FAIL"]
    parts = [f"<div class='alb-step' style='border-left:4px solid {colour};padding-left:8px'>",
             f"<b>{e(s.step)} {e(s.title)}</b> "
             f"<span style='color:{colour};font-weight:bold'>{'PASS' if s.ok else 'FAIL'}</span>"]
    if s.commands:
        parts.append("<pre class='alb-commands'>" + e("\n".join(transcript(s))) + "</pre>")
    if s.output:
        parts.append(f"<pre class='alb-output'>{e(s.output.rstrip())}</pre>")
    for n in s.notes:
        parts.append("<div class='alb-note' style='background:#fff8c5;padding:4px'>"
                     f"<b>Note:</b> {e(n)}</div>")
    if s.checks:
        parts.append("<table class='alb-checks'>" + "".join(check_row_html(c) for c in s.checks)
                     + "</table>")
    parts.append("</div>")
    return "".join(parts)


def check(name: str, ok: bool, detail: str = "", hint: str = "", reason: str = "") -> CheckResult:
    """A check evaluated once (no waiting)."""
    return CheckResult(name=name, ok=bool(ok), detail=detail, hint=hint, reason=reason)


def skipped(name: str, why: str) -> CheckResult:
    """A check that did not run, with why (it counts as passed and shows as SKIP)."""
    return CheckResult(name=name, ok=True, detail=why, skipped=True, attempts=0)


#: The check a step records when it is interrupted (KeyboardInterrupt in the kernel: Jupyter's stop
#: button, or ``ambient-lb run`` stopping on SIGINT/SIGTERM); the runner finds the step it was in by it.
INTERRUPTED = "the step ran to the end"


def interrupted(commands_run: int) -> CheckResult:
    """The failed check of a step a KeyboardInterrupt stopped, with how many commands it had started."""
    return CheckResult(name=INTERRUPTED, ok=False,
                       detail=f"interrupted (KeyboardInterrupt) with {commands_run} command(s) started",
                       hint="run the cell again: the step is idempotent and picks up what is already there")


def poll(name: str, probe: Probe, *, timeout: float, interval: float = 0.2, consecutive: int = 1,
         hint: str = "", reason: Callable[[], str] | None = None,
         stop: threading.Event | None = None) -> CheckResult:
    """Retry ``probe`` until it passes ``consecutive`` times in a row, or ``timeout`` seconds pass.

    Between attempts it waits on ``stop`` (an Event a caller may set to end the poll early), so the
    wait is bounded and interruptible. On failure ``reason()`` (e.g. the object's condition reason
    and message) is recorded; it is called once, at the end.
    """
    stop = stop or threading.Event()
    start = time.monotonic()
    attempts, streak, detail, last_error = 0, 0, "", ""
    while True:
        attempts += 1
        ok, detail, last_error = _probe_once(probe, last_error)
        streak = streak + 1 if ok else 0
        elapsed = time.monotonic() - start
        if streak >= consecutive:
            return CheckResult(name, True, detail, hint, attempts=attempts, seconds=elapsed)
        if elapsed >= timeout or stop.wait(min(interval, max(0.0, timeout - elapsed))):
            seen = _safe_reason(reason) or last_error
            detail = f"{detail} (not true within {timeout:g} s)".strip()
            return CheckResult(name, False, detail, hint, seen, attempts, time.monotonic() - start)


def _probe_once(probe: Probe, last_error: str) -> tuple[bool, str, str]:
    try:
        ok, detail = probe()
        return bool(ok), detail, last_error
    except Exception as exc:  # evidence, not a crash: the check reports it
        return False, f"{type(exc).__name__}: {exc}", f"{type(exc).__name__}: {exc}"


def _safe_reason(reason: Callable[[], str] | None) -> str:
    if reason is None:
        return ""
    try:
        return reason()
    except Exception as exc:
        return f"(could not read the object's conditions: {exc})"


def from_wait(name: str, wait: Callable[[], Any], *, detail: Callable[[Any], str] | str = "",
              hint: str = "") -> CheckResult:
    """Run a watch-based wait (``kube.wait_for_*``); its TimedOut becomes a failed check.

    The TimedOut message says the last condition reason and message seen, which becomes ``reason``.
    """
    start = time.monotonic()
    try:
        value = wait()
    except Exception as exc:
        if "Timed" in type(exc).__name__:  # what was seen last is why: e.g. Programmed=Unknown reason=Pending
            last = getattr(exc, "last_seen", None)
            text = "did not happen in time" + (f"; last seen: {last}" if last else "")
        else:
            text = f"{type(exc).__name__}: {str(getattr(exc, 'message', '') or exc).splitlines()[0][:300]}"
        return CheckResult(name, False, text, hint, str(exc), 1, time.monotonic() - start)
    text = detail(value) if callable(detail) else detail
    return CheckResult(name, True, text, hint, attempts=1, seconds=time.monotonic() - start)


def summarize(steps: Iterable[StepResult]) -> dict[str, Any]:
    """Counts over many steps: used by the runner for a notebook's summary."""
    steps = list(steps)
    checks = [c for s in steps for c in s.checks]
    failed = [c for c in checks if not c.ok]
    return {"steps": len(steps), "checks": len(checks), "failed": len(failed),
            "first_failure": failed[0].name if failed else None}
