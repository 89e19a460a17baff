"""The cluster as the guide finds it: nodes, the system namespaces, CoreDNS, and an Istio ambient
mesh (istiod, the ztunnel and istio-cni-node DaemonSets, the Istio CRDs).

Who calls it: started last by ``all_controllers``; it seeds the store from a ``cluster.on_start``
hook (inside the server's event loop, once every controller listens), so the seeded objects move
through the same controllers as anything a client creates: pods are scheduled, pulled, started
and become Ready on the usual timeline. Tests with a ``ManualClock`` call ``seed()`` directly.

The data lives in ``sim/data``: ``istio-crds.yaml`` and ``bootstrap.yaml``. The Gateway API CRDs
are not installed: the runbook installs them, as the guide does (``gatewayclasses.py`` then
creates istiod's GatewayClasses).

It also publishes what the cluster is, for clients that want to know it talks to a simulator (and at
what speed) by reading the cluster as they read any cluster fact: the ConfigMap
``kube-public/ambient-lb-simulator`` with ``speed``, ``seed``, ``strict`` ("true"/"false") and
``topology`` (the ``--topology`` given, or "default"), R14.9.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from importlib import resources
from typing import Any

import yaml

from ..clock import to_rfc3339_micro
from ..protocols import SimCluster
from ..store import GR, StoreError
from ..topology import NETWORK_LABEL, cluster_topology
from .admission import admit
from .keys import CRDS, ENDPOINT_SLICES, ENDPOINTS, ISTIO_VERSION, NAMESPACES, NODES, SERVICES
from .nodes import create_nodes
from .objects import Obj, meta

API_SERVER_PORT = 6443
LEASES = GR("coordination.k8s.io", "leases")
CONFIG_MAPS = GR("", "configmaps")
SIMULATOR_CONFIGMAP = ("kube-public", "ambient-lb-simulator")


@functools.cache
def _parsed(name: str) -> tuple[Obj, ...]:
    text = resources.files("ambient_lb.sim").joinpath("data", name).read_text()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(d for d in yaml.load_all(text.replace("${ISTIO_VERSION}", ISTIO_VERSION), Loader=loader) if d)


def data_documents(name: str) -> Iterator[Obj]:
    """The documents of ``sim/data/<name>``, parsed once per process, copied per call."""
    for doc in _parsed(name):
        yield copy.deepcopy(doc)


class Bootstrap:
    """Seeds the cluster as the guide finds it (nodes, system namespaces, CoreDNS, an Istio ambient mesh)."""

    name = "bootstrap"

    def start(self, cluster: SimCluster) -> None:
        """Seeds the store once the server starts (from an on_start hook, when every controller listens)."""
        self.cluster = cluster
        self.seeded = False

        async def on_start() -> None:
            self.seed()
        cluster.on_start.append(on_start)

    def seed(self) -> None:
        """Create everything (once; objects that already exist are left alone)."""
        if self.seeded:
            return
        self.seeded = True
        topo = cluster_topology(self.cluster.topology, self.cluster.name)
        create_nodes(self.cluster, topo)
        self._create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
        self._kubernetes_service(topo.nodes[0].internal_ip)
        for crd in data_documents("istio-crds.yaml"):
            self._create(CRDS, crd)
        for obj in data_documents("bootstrap.yaml"):
            if obj["kind"] == "Namespace" and meta(obj)["name"] == "istio-system" and topo.network:
                obj["metadata"].setdefault("labels", {})[NETWORK_LABEL] = topo.network
            self._create(self.cluster.gr(obj["kind"], obj["apiVersion"].rpartition("/")[0]), obj)
        for node in topo.nodes:
            self._node_lease(node.name)
        self._simulator_info()

    def _simulator_info(self) -> None:
        """``kube-public/ambient-lb-simulator``: speed, seed, strict and topology, as data a client reads."""
        info = self.cluster.extensions.get("simulator") or {}
        speed = float(info.get("speed", getattr(self.cluster.clock, "speed", 1.0)))
        ns, name = SIMULATOR_CONFIGMAP
        self._create(CONFIG_MAPS, {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/name": "ambient-lb-simulator"}},
            "data": {"speed": f"{speed:g}", "seed": str(info.get("seed", self.cluster.seed)),
                     "strict": "true" if self.cluster.strict else "false",
                     "topology": str(info.get("topology") or "default")}})

    def _create(self, gr: Any, obj: Obj) -> None:
        md = meta(obj)
        if self.cluster.store.get(gr, md.get("namespace"), md["name"]) is not None:
            return
        try:
            self.cluster.store.create(gr, admit(self.cluster, "CREATE", gr, obj))
        except StoreError:
            pass  # created meanwhile

    def _node_lease(self, node: str) -> None:
        """The kubelet's heartbeat Lease in ``kube-node-lease`` (``kubectl describe node`` shows it)."""
        now, owner = self.cluster.clock.now(), self.cluster.store.get(NODES, None, node)
        refs = [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": meta(owner)["uid"]}] if owner else []
        self._create(LEASES, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": "kube-node-lease", "ownerReferences": refs},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                     "renewTime": to_rfc3339_micro(now)}})

    def _kubernetes_service(self, api_ip: str) -> None:
        """``default/kubernetes``: the API server's Service, with endpoints it maintains itself."""
        self._create(SERVICES, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": API_SERVER_PORT}]}})
        self._create(ENDPOINTS, {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": api_ip}],
                         "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}]}]})
        self._create(ENDPOINT_SLICES, {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [api_ip], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}]})
