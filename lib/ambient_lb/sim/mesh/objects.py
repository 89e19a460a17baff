"""Small readers of API objects shared by the mesh modules: group/resources, labels, pod state.

Who calls it: every module of ``sim/mesh`` (istiod, kgateway, waypoint, dataplane). Objects in the
store are read-only dicts (see ``sim/store.py``); these helpers never change them.
"""

from __future__ import annotations

from typing import Any

# the built-in types, re-exported as the control plane names them (one definition for both layers)
from ..controllers.keys import (  # noqa: F401
    CRDS,
    DEPLOYMENTS,
    GATEWAY_CLASSES,
    NAMESPACES,
    NODES,
    PODS,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
)
from ..protocols import SimCluster
from ..store import GR, StoreError

Obj = dict[str, Any]

GATEWAYS = GR("gateway.networking.k8s.io", "gateways")
HTTP_ROUTES = GR("gateway.networking.k8s.io", "httproutes")
DESTINATION_RULES = GR("networking.istio.io", "destinationrules")

KGATEWAY_NS = "kgateway-system"
KGATEWAY_CLASS = "enterprise-kgateway"
WAYPOINT_CLASS = "istio-waypoint"
TRUST_DOMAIN = "cluster.local"

# topology labels (R5.9)
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
SUBZONE = "topology.istio.io/subzone"


def meta(o: Obj) -> Obj:
    """The object's metadata ({} when it has none)."""
    return o.get("metadata") or {}


def name(o: Obj) -> str:
    """The object's name, or ""."""
    return meta(o).get("name", "")


def namespace(o: Obj) -> str:
    """The object's namespace, or ""."""
    return meta(o).get("namespace", "")


def labels(o: Obj | None) -> dict[str, str]:
    """The object's labels ({} for no object or no labels)."""
    return (meta(o).get("labels") or {}) if o else {}


def annotations_of(o: Obj | None) -> dict[str, str]:
    """The object's annotations ({} for no object or none); named apart from the ``__future__`` import."""
    return (meta(o).get("annotations") or {}) if o else {}


def condition(o: Obj, kind: str) -> Obj | None:
    """The object's status condition of this type, or None."""
    for c in (o.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


def pod_ready(pod: Obj) -> bool:
    """True when the pod's Ready condition is True."""
    c = condition(pod, "Ready")
    return bool(c and c.get("status") == "True")


def pod_terminating(pod: Obj) -> bool:
    """True when the pod is being deleted."""
    return bool(meta(pod).get("deletionTimestamp"))


def pod_ip(pod: Obj) -> str:
    """The pod's IP, or ""."""
    return (pod.get("status") or {}).get("podIP") or ""


def pod_node(pod: Obj) -> str:
    """The node the pod is bound to, or ""."""
    return (pod.get("spec") or {}).get("nodeName") or ""


def pod_sa(pod: Obj) -> str:
    """The pod's service account (``default`` when it names none)."""
    return (pod.get("spec") or {}).get("serviceAccountName") or "default"


def spiffe(ns: str, sa: str) -> str:
    """The SPIFFE identity of a service account in the mesh's trust domain."""
    return f"spiffe://{TRUST_DOMAIN}/ns/{ns}/sa/{sa}"


def owned_by_deployment(pod: Obj, deployment: str) -> bool:
    """Pods of a Deployment are named ``<deployment>-<rs hash>-<suffix>`` and carry its labels."""
    parts = name(pod).rsplit("-", 2)
    return len(parts) == 3 and parts[0] == deployment


def now_condition(kind: str, status: bool, reason: str, message: str, generation: int,
                  stamp: str) -> Obj:
    """A status condition as a controller writes it."""
    return {"type": kind, "status": "True" if status else "False", "reason": reason,
            "message": message, "observedGeneration": generation, "lastTransitionTime": stamp}


def merge_conditions(old: list[Obj] | None, new: list[Obj]) -> list[Obj]:
    """Keep ``lastTransitionTime`` of conditions whose status did not change (as controllers do)."""
    prev = {c.get("type"): c for c in old or []}
    out = []
    for c in new:
        p = prev.get(c["type"])
        if p and p.get("status") == c["status"]:
            c = dict(c, lastTransitionTime=p.get("lastTransitionTime", c["lastTransitionTime"]))
        out.append(c)
    return out


def create(cluster: SimCluster, gr: GR, obj: Obj) -> Obj | None:
    """Create ``obj`` the way the API server would: admission chain first (defaults, a Service's
    ClusterIP), then the store. An object that already exists is left alone (returns None)."""
    md = obj["metadata"]
    if cluster.store.get(gr, md.get("namespace"), md["name"]) is not None:
        return None
    for fn in cluster.extensions.get("admission", []):
        obj = fn("CREATE", gr, obj, None)
    try:
        return cluster.store.create(gr, obj)
    except StoreError:
        return None


class Debounced:
    """A controller whose store events of the ``watched`` types coalesce into one ``reconcile()``
    soon after (kgateway, waypoint): the listener only schedules, as the store requires."""

    watched: frozenset[GR] | set[GR] = frozenset()
    _pending = False
    cluster: SimCluster

    def _on_event(self, ev: Any) -> None:
        if ev.gr in self.watched and not self._pending:
            self._pending = True
            self.cluster.clock.call_later(0, self._run)

    def _run(self) -> None:
        self._pending = False
        self.reconcile()

    def reconcile(self) -> None:  # pragma: no cover - abstract
        """Brings the controller's objects in line with the store (each subclass says how)."""
        raise NotImplementedError
