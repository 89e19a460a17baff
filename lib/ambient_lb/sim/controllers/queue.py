"""The coalescing work queue every controller reconciles from, and the base class that wires one to
the store.

Who calls it: every controller of ``sim/controllers``. ``add`` may be called from a store listener:
it only schedules (``clock.call_later(0, …)``); the reconcile runs later, where writes are allowed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Hashable
from typing import Any

from ..protocols import Clock, SimCluster

log = logging.getLogger("ambient_lb.sim.controllers")


class WorkQueue:
    """Keys to reconcile, coalesced: many store events for one key cause one reconcile "soon".

    ``add`` may be called from a store listener: it only schedules (``clock.call_later(0, …)``).
    ``add_after`` schedules one key later (a requeue), e.g. when a pod becomes available.
    """

    def __init__(self, clock: Clock, reconcile: Callable[[Any], None]) -> None:
        self.clock = clock
        self.reconcile = reconcile
        self._pending: dict[Hashable, None] = {}
        self._scheduled = False

    def add(self, key: Hashable) -> None:
        """Queues a key; the queue is flushed on the next clock tick, each key reconciled once."""
        self._pending[key] = None
        if not self._scheduled:
            self._scheduled = True
            self.clock.call_later(0, self._flush)

    def add_after(self, delay: float, key: Hashable) -> None:
        """Queues a key after delay simulated seconds."""
        self.clock.call_later(delay, self.add, key)

    def _flush(self) -> None:
        self._scheduled = False
        keys, self._pending = list(self._pending), {}
        for key in keys:
            guarded(self.reconcile, key)


class QueuedController:
    """A controller that reconciles keys from a ``WorkQueue`` fed by its ``_on_event`` store listener,
    drawing names from its own RNG seeded from the cluster's (so names are reproducible per seed).

    Subclasses define ``name``, ``_on_event(ev)`` (which only calls ``self.queue.add``) and
    ``_reconcile(key)``.
    """

    name = ""

    def start(self, cluster: SimCluster) -> None:
        """Draws the controller's random numbers, makes its work queue, and listens to the store."""
        self.cluster = cluster
        self.rng = self._make_rng(cluster)
        self.queue = WorkQueue(cluster.clock, self._reconcile)
        cluster.store.subscribe(self._on_event)

    def _make_rng(self, cluster: SimCluster) -> random.Random:
        return random.Random(cluster.rng.getrandbits(64))

    def _on_event(self, ev: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reconcile(self, key: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def guarded(fn: Callable[..., Any], *args: Any) -> None:
    """Run one reconcile step; a bad object in the store is logged and skipped, so it cannot stop
    the controller (or the others sharing the event loop)."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - the simulator must keep running; the log has the traceback
        log.exception("controller step %s%r failed; skipping it", getattr(fn, "__qualname__", fn), args)
