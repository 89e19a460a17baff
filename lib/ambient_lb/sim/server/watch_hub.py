"""The one store listener that feeds every open watch of a type (and ends them at shutdown).

Who calls it: ``state.ServerState`` makes one ``WatchHub`` per server; ``watch.serve`` opens a
``Watcher`` on it for each watch stream and reads the store's events from the watcher's queue.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

from ..protocols import ObjectStore
from ..store import GR, Event


class Watcher:
    """One open watch: its type, namespace, and the queue of events for it (None ends it)."""

    def __init__(self, gr: GR, namespace: str | None) -> None:
        self.gr = gr
        self.namespace = namespace
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()


class WatchHub:
    """The single store listener that feeds every open watch of a type (and ends them at shutdown)."""

    def __init__(self, store: ObjectStore) -> None:
        self._by_gr: dict[GR, set[Watcher]] = collections.defaultdict(set)
        self.on_change: list[Callable[[int], None]] = []  # called with count() when a watch opens or closes
        store.subscribe(self._on_event)

    def _on_event(self, ev: Event) -> None:
        for w in self._by_gr.get(ev.gr, ()):
            if w.namespace is None or (ev.obj.get("metadata") or {}).get("namespace") == w.namespace:
                w.queue.put_nowait(ev)

    def open(self, gr: GR, namespace: str | None) -> Watcher:
        """Opens a watch of a type (in a namespace, or all)."""
        w = Watcher(gr, namespace)
        self._by_gr[gr].add(w)
        self._changed()
        return w

    def close(self, w: Watcher) -> None:
        """Closes a watch."""
        self._by_gr[w.gr].discard(w)
        self._changed()

    def _changed(self) -> None:
        n = self.count()
        for fn in list(self.on_change):
            fn(n)

    def close_where(self, pred: Callable[[Watcher], bool]) -> int:
        """End the open watches ``pred`` selects (their streams end, as at an API server restart); how many."""
        ended = [w for ws in self._by_gr.values() for w in ws if pred(w)]
        for w in ended:
            w.queue.put_nowait(None)
        return len(ended)

    def close_all(self) -> None:
        """Ends every open watch (at shutdown)."""
        for ws in self._by_gr.values():
            for w in ws:
                w.queue.put_nowait(None)

    def count(self) -> int:
        """How many watches are open."""
        return sum(len(ws) for ws in self._by_gr.values())
