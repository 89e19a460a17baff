"""Admission: defaulting and allocation applied before an object is stored, so a client sees them
in the response to its POST/PUT/PATCH (a Service's clusterIP, a Pod's defaulted spec).

Who calls it: the API server runs every callable in ``cluster.extensions["admission"]`` as
``fn(op, gr, obj, old) -> obj`` on create ("CREATE") and update ("UPDATE") before storing, where
``old`` is the stored object (None on create). A callable raises ``AdmissionInvalid`` (a
``StoreError`` with reason ``Invalid`` and field causes) to reject the request with 422, or a
``shapes.ShapeError`` (reason ``BadRequest``) for a body with a field of the wrong JSON type.
Controllers that create objects themselves go through the same chain with ``admit``.

What is defaulted (as the real API server's defaulting functions and admission plugins do):
Pods and pod templates, Deployments, ReplicaSets, ReplicationControllers, DaemonSets, Namespaces, Services
(ClusterIP from 10.96.0.0/16 and NodePorts from 30000-32767, drawn from the seeded rng).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from typing import Any

from ..protocols import SimCluster
from ..store import GR, StoreError
from . import defaults, shapes
from .keys import DAEMON_SETS, DEPLOYMENTS, NAMESPACES, PODS, REPLICA_SETS, REPLICATION_CONTROLLERS, SERVICES
from .objects import Obj, meta

Admit = Callable[[str, GR, Obj, "Obj | None"], Obj]

SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/16")
STATIC_BAND = 256  # addresses at the bottom of the range kept for explicit clusterIPs (KEP-3070)
NODE_PORTS = (30000, 32767)


_KINDS = {PODS: "Pod", DEPLOYMENTS: "Deployment", REPLICA_SETS: "ReplicaSet", DAEMON_SETS: "DaemonSet",
          REPLICATION_CONTROLLERS: "ReplicationController",
          NAMESPACES: "Namespace", SERVICES: "Service"}


class AdmissionInvalid(StoreError):
    """A request the API server must answer with 422 Invalid.

    ``causes`` are ``{"reason": "FieldValueInvalid", "message": …, "field": …}`` as in a Status.
    """

    def __init__(self, kind: str, name: str, field: str, value: Any, detail: str) -> None:
        msg = f'{kind} "{name}" is invalid: {field}: Invalid value: {value!r}: {detail}'
        super().__init__("Invalid", msg)
        self.kind, self.name = kind, name
        self.causes = [{"reason": "FieldValueInvalid", "message": f"Invalid value: {value!r}: {detail}",
                        "field": field}]


def admit(cluster: SimCluster, op: str, gr: GR, obj: Obj, old: Obj | None = None) -> Obj:
    """Run the admission chain the API server runs (for objects controllers create themselves)."""
    for fn in cluster.extensions.get("admission", []):
        obj = fn(op, gr, obj, old)
    return obj


class Admission:
    """Registers the defaulting/allocation callables in ``cluster.extensions["admission"]``."""

    name = "admission"

    def start(self, cluster: SimCluster) -> None:
        """Joins the cluster's admission chain, with its own random numbers drawn from the cluster's seed."""
        self.cluster = cluster
        self.rng = random.Random(cluster.rng.getrandbits(64))
        chain: list[Admit] = cluster.extensions.setdefault("admission", [])
        chain.append(self)

    def __call__(self, op: str, gr: GR, obj: Obj, old: Obj | None) -> Obj:
        """Defaults and checks an object being written, as the API server's defaulting and admission do."""
        fn = self._by_gr.get(gr)
        if fn is None:
            return obj
        obj.setdefault("kind", _KINDS[gr])
        version = str(obj.get("apiVersion") or "v1").rpartition("/")[2]
        shapes.check(_KINDS[gr], version, obj)
        return fn(self, op, obj, old)

    # ---- per type ---------------------------------------------------------------------------
    def _pod(self, op: str, obj: Obj, old: Obj | None) -> Obj:
        if op == "CREATE":
            defaults.pod(obj, self.rng)
        return obj

    def _workload(self, op: str, obj: Obj, old: Obj | None) -> Obj:
        defaults.workload(obj)
        return obj

    def _namespace(self, op: str, obj: Obj, old: Obj | None) -> Obj:
        defaults.namespace(obj, old)
        return obj

    def _service(self, op: str, obj: Obj, old: Obj | None) -> Obj:
        defaults.service(obj, old)
        self._allocate_cluster_ip(obj, old)
        self._allocate_node_ports(obj, old)
        return obj

    _by_gr: dict[GR, Callable[[Admission, str, Obj, Obj | None], Obj]] = {
        PODS: _pod, DEPLOYMENTS: _workload, REPLICA_SETS: _workload, DAEMON_SETS: _workload,
        REPLICATION_CONTROLLERS: _workload,
        NAMESPACES: _namespace, SERVICES: _service,
    }

    # ---- allocation -------------------------------------------------------------------------
    def _others(self, obj: Obj) -> list[Obj]:
        me = (meta(obj).get("namespace"), meta(obj).get("name"))
        return [s for s in self.cluster.store.list(SERVICES)
                if (meta(s).get("namespace"), meta(s).get("name")) != me]

    def _allocate_cluster_ip(self, svc: Obj, old: Obj | None) -> None:
        spec, name = svc["spec"], meta(svc).get("name", "")
        ip = spec.get("clusterIP") or ((old or {}).get("spec") or {}).get("clusterIP")
        if spec.get("type") == "ExternalName":
            return
        used = {s["spec"].get("clusterIP") for s in self._others(svc)}
        if ip and ip != "None":
            if old is None or ip != old["spec"].get("clusterIP"):
                self._check_ip(name, ip, used)
        elif not ip:
            ip = self._free_ip(used)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]

    def _check_ip(self, name: str, ip: str, used: set[str]) -> None:
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            raise AdmissionInvalid("Service", name, "spec.clusterIPs[0]", ip,
                                   "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)") from None
        if addr not in SERVICE_CIDR:
            raise AdmissionInvalid("Service", name, "spec.clusterIPs", [ip], f"failed to allocate IP {ip}: "
                                   f"the provided IP ({ip}) is not in the valid range. "
                                   f"The range of valid IPs is {SERVICE_CIDR}")
        if ip in used:
            raise AdmissionInvalid("Service", name, "spec.clusterIPs", [ip],
                                   f"failed to allocate IP {ip}: provided IP is already allocated")

    def _free_ip(self, used: set[str]) -> str:
        base, size = int(SERVICE_CIDR.network_address), SERVICE_CIDR.num_addresses
        while True:
            ip = str(ipaddress.IPv4Address(base + self.rng.randrange(STATIC_BAND, size - 1)))
            if ip not in used:
                return ip

    def _allocate_node_ports(self, svc: Obj, old: Obj | None) -> None:
        spec, name = svc["spec"], meta(svc).get("name", "")
        wants = spec.get("type") in ("NodePort", "LoadBalancer")
        old_ports = {p.get("port"): p.get("nodePort") for p in ((old or {}).get("spec") or {}).get("ports") or []}
        used = {p.get("nodePort") for s in self._others(svc) for p in s["spec"].get("ports") or []}
        for i, port in enumerate(spec.get("ports") or []):
            if not wants:
                port.pop("nodePort", None)
                continue
            np = port.get("nodePort") or old_ports.get(port.get("port"))
            if np and np != old_ports.get(port.get("port")):
                if not NODE_PORTS[0] <= int(np) <= NODE_PORTS[1]:
                    raise AdmissionInvalid("Service", name, f"spec.ports[{i}].nodePort", np,
                                           "provided port is not in the valid range. "
                                           "The range of valid ports is 30000-32767")
                if np in used:
                    raise AdmissionInvalid("Service", name, f"spec.ports[{i}].nodePort", np,
                                           "provided port is already allocated")
            while not np or np in used:
                np = self.rng.randint(*NODE_PORTS)
            port["nodePort"] = np
            used.add(np)
