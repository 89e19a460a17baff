"""Container logs: what ``kubectl logs`` returns for a simulated pod.

Who writes: controllers and the data plane (startup lines, access logs). Who reads: the API
server's ``pods/{name}/log`` subresource (``tailLines``, ``sinceSeconds``, ``timestamps``,
``follow``). Retention is bounded per container, like a kubelet's rotated container log.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from .clock import Clock

Line = tuple[float, str]  # (simulated epoch seconds, text without the trailing newline)


class PodLogs:
    """Every container's log lines (with their simulated times), the previous container's, and followers."""

    def __init__(self, clock: Clock, max_lines: int = 50_000) -> None:
        self.clock = clock
        self.max_lines = max_lines
        self._buf: dict[tuple[str, str, str], collections.deque[Line]] = {}
        self._previous: dict[tuple[str, str, str], collections.deque[Line]] = {}
        self._followers: dict[tuple[str, str, str], list[Callable[[Line], None]]] = collections.defaultdict(list)

    def write(self, namespace: str, pod: str, container: str, text: str) -> None:
        """Appends a line to a container's log (keeping at most max_lines) and hands it to its followers."""
        key = (namespace, pod, container)
        buf = self._buf.get(key)
        if buf is None:
            buf = self._buf[key] = collections.deque(maxlen=self.max_lines)
        line = (self.clock.now(), text)
        buf.append(line)
        followers = self._followers.get(key)
        if followers:  # most containers have no `kubectl logs -f` attached
            for fn in list(followers):
                fn(line)

    def read(self, namespace: str, pod: str, container: str) -> list[Line]:
        """A container's log lines, oldest first."""
        return list(self._buf.get((namespace, pod, container), ()))

    def containers(self, namespace: str, pod: str) -> list[str]:
        """The names of the pod's containers that have logged."""
        return [c for (ns, p, c) in self._buf if ns == namespace and p == pod]

    def follow(self, namespace: str, pod: str, container: str, fn: Callable[[Line], None]) -> Callable[[], None]:
        """Call ``fn(line)`` for each new line; returns a function that stops following."""
        key = (namespace, pod, container)
        self._followers[key].append(fn)
        return lambda: self._followers[key].remove(fn) if fn in self._followers[key] else None

    def restart(self, namespace: str, pod: str, container: str) -> None:
        """The container was restarted: ``kubectl logs`` shows the new one; the old lines are kept as
        ``previous`` (what ``kubectl logs --previous`` shows on a cluster)."""
        key = (namespace, pod, container)
        self._previous[key] = self._buf.pop(key, collections.deque(maxlen=self.max_lines))

    def previous(self, namespace: str, pod: str, container: str) -> list[Line]:
        """The log lines of the container's previous run (``kubectl logs --previous``)."""
        return list(self._previous.get((namespace, pod, container), ()))

    def drop(self, namespace: str, pod: str) -> None:
        """Forget a deleted pod's logs (its containers are gone)."""
        for key in [k for k in self._buf if k[0] == namespace and k[1] == pod]:
            del self._buf[key]
        for key in [k for k in self._previous if k[0] == namespace and k[1] == pod]:
            del self._previous[key]
