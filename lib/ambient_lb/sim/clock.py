"""Simulated time: wall time scaled by ``speed``, with timers on the asyncio loop.

Every simulated duration (pod start, grace periods, propagation delays, outlier intervals and
ejection times) is expressed in *simulated seconds* and passes ``speed`` times faster than wall
time. The API server stamps objects with ``clock.now()`` and computes ages with it, so
``kubectl get`` shows consistent ages whatever the speed.

``ManualClock`` is for unit tests of pure models: time moves only when the test says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    """A scheduled call that can be cancelled."""

    def cancel(self) -> None:
        """Cancels the call if it has not run yet."""


class Clock(Protocol):
    """Simulated time: what the simulator reads the time from and schedules its timers on."""

    speed: float

    def now(self) -> float:
        """Simulated epoch seconds."""

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run ``fn(*args)`` after ``delay`` simulated seconds."""


def to_rfc3339(epoch: float) -> str:
    """``2025-03-19T17:32:42Z``: the second-precision form Kubernetes uses in metadata."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_rfc3339_micro(epoch: float) -> str:
    """``2025-03-19T17:32:42.762545Z``: ztunnel's timestamp form (6 fractional digits)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_rfc3339_milli(epoch: float) -> str:
    """``2025-03-06T17:15:23.456Z``: Envoy's START_TIME form (3 fractional digits)."""
    d = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> float:
    """An RFC 3339 timestamp (``2025-01-01T00:00:00Z``) as epoch seconds."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class ScaledClock:
    """Simulated time = start + (monotonic elapsed) * speed; timers run on the asyncio loop."""

    def __init__(self, speed: float = 1.0, start: float | None = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}; for example 1 or 10")
        self.speed = float(speed)
        self._start = time.time() if start is None else start
        self._mono0 = time.monotonic()
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the timers run on: the bound one, else the running one."""
        return self._loop or asyncio.get_running_loop()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Binds the clock to an event loop (for timers scheduled from other threads)."""
        self._loop = loop

    def now(self) -> float:
        """Simulated epoch seconds: the start time plus the wall time since, times the speed."""
        return self._start + (time.monotonic() - self._mono0) * self.speed

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Calls fn(*args) after delay simulated seconds (delay / speed wall seconds)."""
        return self.loop.call_later(max(0.0, delay) / self.speed, fn, *args)

    def wall_seconds(self, sim_seconds: float) -> float:
        """How long ``sim_seconds`` of simulated time takes in wall time."""
        return sim_seconds / self.speed


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that only moves when ``advance`` is called; timers fire in order, deterministically."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.speed = 1.0
        self._now = start
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, _ManualTimer, Callable[..., Any], tuple[Any, ...]]] = []

    def now(self) -> float:
        """The current simulated time (it moves only when the test advances it)."""
        return self._now

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Calls fn(*args) when the clock is advanced past now + delay."""
        t = _ManualTimer()
        heapq.heappush(self._heap, (self._now + max(0.0, delay), next(self._seq), t, fn, args))
        return t

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due timers in time order."""
        until = self._now + seconds
        while self._heap and self._heap[0][0] <= until:
            when, _, t, fn, args = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            if not t.cancelled:
                fn(*args)
        self._now = until
