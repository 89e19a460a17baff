"""Every error the runbook raises, in one tree; each message says what to do next.

    RunbookError
    ├── ParameterError        a params file, key or CLI value is wrong (names file, key, value, example)
    ├── ToolMissing           kubectl / helm / jupyter is not installed (how to install it)
    ├── ClusterError          a command or API call failed (argv as displayed, exit code, stderr tail)
    │   ├── NotFound          an object the step needs is not there ("Gateway http in kgateway-system")
    │   ├── ContextMismatch   a destructive call would hit a context other than the one in params
    │   └── TimedOut          a wait ran out (what it waited for, the last condition seen)
    ├── SimulatorError        the cluster-in-a-box could not start, or is not running
    └── CheckFailed           a live check did not pass (guide step, expected vs observed, hint)

Causes are chained with ``raise … from exc``. ``exit_code`` is what ``ambient-lb`` exits with.

Every class accepts a plain message, so ``raise NotFound("Gateway http not found")`` works; the
optional keyword fields (``hint``, ``argv_display``, ``returncode``, ``stderr_tail``, ``problems``)
carry the structured detail the notebooks and reports show. Messages never contain secrets: the
callers (``shell``, ``kube``, ``helm``) redact before they build them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class RunbookError(Exception):
    """Base of every error ambient-lb raises on purpose; ``hint`` says what to do next."""

    exit_code = 1

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        if self.hint and self.hint not in self.message:
            return f"{self.message}\n  next: {self.hint}" if self.message else self.hint
        return self.message


@dataclass(frozen=True)
class Problem:
    """One bad parameter: where it came from, which key, what value, why, and a good example."""

    source: str
    key: str
    value: Any
    reason: str
    example: str | None = None

    def __str__(self) -> str:
        text = f"{self.source}: {self.key}: {self.reason} (got {self.value!r})"
        return f"{text}; for example {self.example}" if self.example else text


class ParameterError(RunbookError, ValueError):
    """Bad parameters, all reported at once before anything touches a cluster."""

    exit_code = 2

    def __init__(self, message: str = "", *, problems: Sequence[Problem] = (),
                 hint: str | None = None) -> None:
        self.problems = list(problems)
        if self.problems:
            lines = [f"{len(self.problems)} bad parameter(s):"] + [f"  - {p}" for p in self.problems]
            message = "\n".join(([message] if message else []) + lines)
        super().__init__(message, hint=hint or "fix the value(s) above and run again")


class ToolMissing(RunbookError):
    """A command-line tool the step needs is not on PATH; the message says how to install it."""

    exit_code = 3

    def __init__(self, message: str = "", *, tool: str | None = None, hint: str | None = None) -> None:
        self.tool = tool
        super().__init__(message, hint=hint)


class ClusterError(RunbookError):
    """A command or API call against the cluster failed."""

    def __init__(self, message: str = "", *, argv_display: str | None = None,
                 returncode: int | None = None, stderr_tail: str | None = None,
                 hint: str | None = None) -> None:
        self.argv_display = argv_display
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        parts = [message]
        if argv_display:
            parts.append(f"  command: {argv_display}")
        if returncode is not None:
            parts.append(f"  exit code: {returncode}")
        if stderr_tail:
            parts.append("  stderr: " + stderr_tail.strip().replace("\n", "\n          "))
        super().__init__("\n".join(p for p in parts if p), hint=hint)


class NotFound(ClusterError):
    """An object the step needs does not exist."""


class ContextMismatch(ClusterError):
    """A destructive call would reach a kube context other than the one the params name."""

    exit_code = 2


class TimedOut(ClusterError):
    """A command or a wait ran out of time; ``last_seen`` is the state observed last."""

    def __init__(self, message: str = "", *, last_seen: str | None = None, **kwargs: Any) -> None:
        self.last_seen = last_seen
        if last_seen:
            message = f"{message}; last seen: {last_seen}"
        super().__init__(message, **kwargs)


class SimulatorError(RunbookError):
    """The cluster-in-a-box could not start or is not running."""


class CheckFailed(RunbookError):
    """A live check of the guide's expected outcome did not pass."""
