"""Each Envoy proxy's clusters (gateway and waypoint pods), kept in step with istiod's pushes.

Who calls it: ``dataplane`` asks ``Proxies.cluster(proxy, name, config, hosts_fn)`` for the cluster a
request needs; ``admin`` lists a proxy's clusters for ``/stats`` and ``/clusters``. A cluster is
the model's ``EnvoyCluster``; it gets the new host list when a push has happened since it last
looked (R6.4, R2.8, R4.1), and is rebuilt when its config changes (a DR change, R2.12; its stats
carry over, R13.10; ``cluster_manager.cluster_added``/``cluster_modified`` count both). Outlier
ejection/un-ejection events go to the proxy's outlier log via ``on_event``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..protocols import Clock
from .model.envoy_cluster import ClusterConfig, EnvoyCluster
from .model.hosts import Host, Locality
from .model.outlier import OutlierEvent

ProxyKey = tuple[str, str]  # (namespace, pod)


@dataclass
class _Entry:
    cluster: EnvoyCluster
    version: int  # istiod view version the host list came from


@dataclass
class Proxy:
    """One Envoy proxy pod as the data plane keeps it: its locality, labels, built clusters and counters."""

    namespace: str
    pod: str
    locality: Locality
    labels: dict[str, str] = field(default_factory=dict)
    clusters: dict[str, _Entry] = field(default_factory=dict)
    # ``cluster_manager.*`` counters of this Envoy (R13.10: a CDS update counts as cluster_modified)
    manager: Counter[str] = field(default_factory=Counter)


class Proxies:
    """Every Envoy proxy the data plane has used, by pod; it emits their outlier events and runs their sweeps."""

    def __init__(self, rng: random.Random, on_event: Callable[[Proxy, OutlierEvent], None],
                 clock: Clock | None = None) -> None:
        self.rng = rng
        self.on_event = on_event
        self.clock = clock
        self.by_pod: dict[ProxyKey, Proxy] = {}
        self._sweeps: dict[int, Any] = {}  # id(cluster) -> timer for its next sweep

    def proxy(self, namespace: str, pod: str, locality: Locality, labels: dict[str, str]) -> Proxy:
        """The proxy of this pod, made anew when it is new or its locality changed."""
        p = self.by_pod.get((namespace, pod))
        if p is None or p.locality != locality:
            p = self.by_pod[(namespace, pod)] = Proxy(namespace, pod, locality, dict(labels))
        return p

    def forget(self, alive: set[ProxyKey]) -> None:
        """Drop proxies whose pods are gone (their clusters die with them)."""
        for key in [k for k in self.by_pod if k not in alive]:
            del self.by_pod[key]

    def cluster(self, proxy: Proxy, config: ClusterConfig, version: int, now: float,
                hosts: Callable[[], Sequence[Host]]) -> EnvoyCluster:
        """The proxy's cluster ``config.name``: built, re-hosted after a push, or rebuilt (R2.12)."""
        entry = proxy.clusters.get(config.name)
        if entry is None:
            c = EnvoyCluster(config, hosts(), now=now, rng=random.Random(self.rng.getrandbits(64)),
                             proxy_locality=proxy.locality, proxy_labels=proxy.labels)
            proxy.clusters[config.name] = entry = _Entry(c, version)
            proxy.manager["cluster_added"] += 1
            return c
        if entry.cluster.config != config:
            entry.cluster = entry.cluster.rebuilt(config, now)
            entry.version = -1
            proxy.manager["cluster_modified"] += 1
        if entry.version != version:
            self._emit(proxy, entry.cluster.set_hosts(hosts(), now))
            entry.version = version
        return entry.cluster

    def emit(self, proxy: Proxy, events: list[OutlierEvent], cluster: EnvoyCluster | None = None) -> None:
        """Emits the proxy's outlier events and, when the cluster has ejected hosts, schedules its next sweep."""
        self._emit(proxy, events)
        if cluster is not None and cluster.ejected():
            self._arm_sweep(proxy, cluster)

    def _arm_sweep(self, proxy: Proxy, cluster: EnvoyCluster) -> None:
        """R2.6: un-ejection happens at a sweep; run it on time so the UNEJECT line appears then."""
        at = cluster.next_sweep_at()
        clock = self.clock
        if clock is None or at is None or id(cluster) in self._sweeps:
            return

        def sweep() -> None:
            self._sweeps.pop(id(cluster), None)
            entry = proxy.clusters.get(cluster.config.name)
            if entry is None or entry.cluster is not cluster:  # rebuilt or gone (R2.12)
                return
            self._emit(proxy, cluster.advance(clock.now()))
            if cluster.ejected():
                self._arm_sweep(proxy, cluster)
        self._sweeps[id(cluster)] = clock.call_later(max(0.0, at - clock.now()), sweep)

    def _emit(self, proxy: Proxy, events: list[OutlierEvent]) -> None:
        for ev in events:
            self.on_event(proxy, ev)
