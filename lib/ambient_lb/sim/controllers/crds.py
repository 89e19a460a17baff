"""CustomResourceDefinitions: servable the moment they are created, Established soon after.

Who calls it: started by ``all_controllers``; reacts to CRD objects however they arrive (``kubectl
apply`` of the Gateway API CRDs, the kgateway chart, the Istio CRDs the bootstrap loads).

- ADDED (or a changed spec): ``registry.register_crd`` runs synchronously in the listener, so
  discovery lists the kind before the client's next request (registering is not a store write),
  then the status gets ``acceptedNames``, ``storedVersions`` and the conditions NamesAccepted and
  Established (True, with the real reasons).
- Deleted (removed, or ``deletionTimestamp`` with the ``customresourcecleanup`` finalizer): every
  object of the kind is removed, the kind leaves discovery, and the CRD goes.
"""

from __future__ import annotations

from typing import Any

from ..protocols import SimCluster
from ..store import GR
from .keys import CRDS
from .objects import Obj, meta, set_condition

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def crd_gr(crd: Obj) -> GR:
    """The group/resource a CustomResourceDefinition serves."""
    spec = crd.get("spec") or {}
    return GR(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))


class CRDController:
    """Serves each CustomResourceDefinition's resource: registers it, marks the CRD Established, and removes the
    resource and its objects when the CRD goes."""

    name = "crd-controller"

    def start(self, cluster: SimCluster) -> None:
        """Registers the CRDs already stored and watches for new and changed ones."""
        self.cluster = cluster
        for crd in cluster.store.list(CRDS):
            cluster.registry.register_crd(crd)
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr != CRDS:
            return
        if ev.type == "DELETED":
            self.cluster.registry.remove(crd_gr(ev.obj))
            self.cluster.clock.call_later(0, self._purge, crd_gr(ev.obj))
        elif meta(ev.obj).get("deletionTimestamp"):
            self.cluster.clock.call_later(0, self._finalize, meta(ev.obj)["name"])
        elif ev.old is None or ev.old.get("spec") != ev.obj.get("spec"):
            if ev.old is not None and crd_gr(ev.old) != crd_gr(ev.obj):
                self.cluster.registry.remove(crd_gr(ev.old))
            self.cluster.registry.register_crd(ev.obj)
            self.cluster.clock.call_later(0, self._establish, meta(ev.obj)["name"])

    def _establish(self, name: str) -> None:
        now = self.cluster.clock.now()

        def edit(crd: Obj) -> None:
            spec, status = crd["spec"], crd.setdefault("status", {})
            names = dict(spec["names"])
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", names["kind"] + "List")
            status["acceptedNames"] = names
            storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
            stored = list(status.get("storedVersions") or [])
            status["storedVersions"] = stored + [v for v in storage if v not in stored]
            set_condition(status, {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                                   "message": "no conflicts found"}, now)
            set_condition(status, {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                   "message": "the initial names have been accepted"}, now)
        self.cluster.store.mutate(CRDS, None, name, edit)

    def _purge(self, gr: GR) -> None:
        if self.cluster.registry.get(gr) is not None:
            return  # re-created meanwhile
        for obj in self.cluster.store.list(gr):
            self.cluster.store.remove(gr, meta(obj).get("namespace"), meta(obj)["name"])

    def _finalize(self, name: str) -> None:
        crd = self.cluster.store.get(CRDS, None, name)
        if crd is None:
            return
        gr = crd_gr(crd)
        self.cluster.registry.remove(gr)
        self._purge(gr)
        fins = [f for f in meta(crd).get("finalizers") or [] if f != CLEANUP_FINALIZER]
        if fins:
            self.cluster.store.mutate(CRDS, None, name, lambda o: o["metadata"].__setitem__("finalizers", fins))
        else:
            self.cluster.store.remove(CRDS, None, name)
