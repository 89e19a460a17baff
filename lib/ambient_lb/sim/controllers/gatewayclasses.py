"""istiod's GatewayClasses: created when the Gateway API CRDs appear, as istiod does.

Who calls it: started by ``all_controllers``. The guide installs the Gateway API CRDs itself
(``kubectl apply -f standard-install.yaml``); the moment the ``gatewayclasses`` CRD is there, istiod
on a real cluster creates ``istio``, ``istio-waypoint`` and ``istio-remote`` and marks them
Accepted. This controller does the same, re-creates one that is deleted while the CRD exists, and
keeps their ``Accepted`` condition's ``observedGeneration`` current.
"""

from __future__ import annotations

from typing import Any

from ..protocols import SimCluster
from .keys import CRDS, GATEWAY_CLASSES
from .objects import Obj, meta, set_condition

CRD_NAME = "gatewayclasses.gateway.networking.k8s.io"

# name -> (controllerName, description), as istiod's defaults
ISTIO_CLASSES: dict[str, tuple[str, str]] = {
    "istio": ("istio.io/gateway-controller", "The default Istio GatewayClass"),
    "istio-remote": ("istio.io/unmanaged-gateway", "Remote to this cluster. Does not deploy or affect configuration."),
    "istio-waypoint": ("istio.io/mesh-controller", "The default Istio waypoint GatewayClass"),
}


class IstioGatewayClasses:
    """istiod's GatewayClasses, created when the Gateway API CRDs appear."""

    name = "istiod-gatewayclasses"

    def start(self, cluster: SimCluster) -> None:
        """Listens to the store for the Gateway API CRDs."""
        self.cluster = cluster
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == CRDS and meta(ev.obj).get("name") == CRD_NAME and ev.type != "DELETED":
            self.cluster.clock.call_later(0, self._ensure)
        elif ev.gr == GATEWAY_CLASSES and meta(ev.obj).get("name") in ISTIO_CLASSES:
            self.cluster.clock.call_later(0, self._ensure)

    def _ensure(self) -> None:
        t = self.cluster.registry.get(GATEWAY_CLASSES)
        if t is None or self.cluster.store.get(CRDS, None, CRD_NAME) is None:
            return
        for name, (controller, description) in ISTIO_CLASSES.items():
            if self.cluster.store.get(GATEWAY_CLASSES, None, name) is None:
                self.cluster.store.create(GATEWAY_CLASSES, {
                    "apiVersion": t.api_version(), "kind": "GatewayClass",
                    "metadata": {"name": name},
                    "spec": {"controllerName": controller, "description": description}})
            self._accept(name)

    def _accept(self, name: str) -> None:
        now = self.cluster.clock.now()

        def edit(gc: Obj) -> None:
            status = gc.setdefault("status", {})
            set_condition(status, {"type": "Accepted", "status": "True", "reason": "Accepted",
                                   "message": "Handled by Istio controller",
                                   "observedGeneration": gc["metadata"].get("generation", 1)}, now)
        self.cluster.store.mutate(GATEWAY_CLASSES, None, name, edit)
