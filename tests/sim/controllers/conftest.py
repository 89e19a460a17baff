"""Fixtures for in-process controller tests: a seeded cluster on a ManualClock (no server, no mesh),
and small helpers that create objects the way the API server would (admission, then the store)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ambient_lb.sim.clock import ManualClock
from ambient_lb.sim.cluster import Cluster
from ambient_lb.sim.controllers import admit
from ambient_lb.sim.controllers.keys import DEPLOYMENTS, NAMESPACES, PODS, SERVICES
from ambient_lb.sim.store import GR
from ambient_lb.sim.world import build_cluster


class Sim:
    """A cluster plus the verbs tests need; time moves only with ``advance``."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.clock: ManualClock = cluster.clock  # type: ignore[assignment]
        self.store = cluster.store

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def create(self, gr: GR, obj: dict[str, Any]) -> dict[str, Any]:
        return self.store.create(gr, admit(self.cluster, "CREATE", gr, copy.deepcopy(obj)))

    def update(self, gr: GR, ns: str | None, name: str, fn: Any) -> dict[str, Any]:
        cur = copy.deepcopy(self.store.get(gr, ns, name))
        fn(cur)
        return self.store.update(gr, admit(self.cluster, "UPDATE", gr, cur, self.store.get(gr, ns, name)))

    def delete(self, gr: GR, ns: str | None, name: str, grace: int | None = None) -> Any:
        return self.cluster.extensions["delete"](self.cluster, gr, ns, name, grace)

    def pods(self, ns: str, **labels: str) -> list[dict[str, Any]]:
        return [p for p in self.store.list(PODS, ns)
                if all(p["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())]

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        evs = self.store.list(GR("", "events"))
        return [e for e in evs if reason is None or e["reason"] == reason]

    def namespace(self, name: str, **labels: str) -> None:
        self.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": name, "labels": labels}})
        self.advance(0)


def deployment(name: str, ns: str = "httpbin", replicas: int = 1, image: str = "docker.io/mccutchen/go-httpbin:v2.15.0",
               port: int = 8080, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "version": "v1"}},
                                  "spec": {"containers": [{"name": name, "image": image,
                                                           "ports": [{"containerPort": port, "name": "http"}]}]}},
                     **spec}}


def service(name: str, ns: str = "httpbin", port: int = 8000, target: Any = 8080, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": port, "targetPort": target}], **spec}}


@pytest.fixture
def bare() -> Sim:
    """A cluster with controllers but nothing seeded except nodes and the namespaces tests ask for."""
    cluster = build_cluster(clock=ManualClock(), mesh=False, seed=7)
    sim = Sim(cluster)
    from ambient_lb.sim.controllers.nodes import create_nodes
    from ambient_lb.sim.topology import cluster_topology
    create_nodes(cluster, cluster_topology(None))
    sim.namespace("default")
    sim.namespace("httpbin")
    return sim


@pytest.fixture
def seeded() -> Sim:
    """The full bootstrap (istio-system, ztunnel, CRDs), run until everything is Ready."""
    cluster = build_cluster(clock=ManualClock(), mesh=False, seed=7)
    boot = next(c for c in cluster.controllers if c.name == "bootstrap")
    boot.seed()
    sim = Sim(cluster)
    sim.advance(10)
    return sim


@pytest.fixture
def app(bare: Sim) -> Sim:
    """``in-ambient`` (3 replicas, Ready) behind Service ``in-ambient`` in namespace httpbin."""
    bare.create(DEPLOYMENTS, deployment("in-ambient", replicas=3))
    bare.create(SERVICES, service("in-ambient"))
    bare.advance(5)
    return bare
