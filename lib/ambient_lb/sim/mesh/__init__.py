"""The ambient data plane of the cluster-in-a-box: kgateway, waypoints, istiod's view, the request path.

Who calls it: ``sim.world.build_cluster`` calls ``all_controllers(cluster)`` after the control plane
has started, and adds each controller in the order returned.

Modelling options ([model] choices, semantics.md §11) live in ``cluster.extensions["mesh_options"]``,
a dict that may be set or changed at any time: ``push_delay`` (istiod's push delay, default 0.3 s,
R6.4), ``kgateway_binding_check`` (default True, R8.1e), ``gateway_vip_ejection`` (default False,
R8.3). Requests can wait for propagation with ``extensions["istiod"].when_pushed(rv, fn)``.

Modules (the pure Envoy/ztunnel model lives in ``model/``, written separately):

| module | what it does |
| --- | --- |
| ``istiod`` | the mesh's view (services, endpoints, waypoint binding, DRs), pushed with a delay (R6.4) |
| ``kgateway`` | GatewayClass ``enterprise-kgateway``: proxy Deployment/Service, Gateway/HTTPRoute status, license |
| ``waypoint`` | GatewayClass ``istio-waypoint``: waypoint Deployment + Service on 15008 (R5.7), the Gateway's infrastructure annotations on its pods (R13.6) |
| ``dataplane`` | one request, hop by hop: GW Envoy → ZT(GW) → WP Envoy → destination ztunnel → app |
| ``listener`` | the real aiohttp HTTP listener on a loopback address of this simulator |
| ``apps/`` | the backend images the simulator models (go-httpbin, nginx from its config, R14), the kubelet's app hook |
| ``app`` | the pods' apps as the mesh reaches them: faults on top (not in strict mode), the pods proxy handler |
| ``admin`` | Envoy admin (``/stats``, ``/clusters``, ``/config_dump``) on 127.0.0.1:15000 of waypoint pods and 127.0.0.1:19000 of kgateway proxy pods (R13.1, R13.2) |
| ``proxy_config`` | a waypoint's ProxyConfig and annotations → its Envoy stats matcher (R13.5) |
| ``pod_sockets`` | what listens in each pod (``cluster.pod_ports``) and what ``kubectl exec`` runs (``pod_exec``) |
| ``images``, ``pilot_agent``, ``wget``, ``exec_context`` | the programs in the proxy images: ``pilot-agent request``, ``wget`` (R13.7, R13.8), and where they run |
| ``accesslogs`` | each hop's access-log lines into ``cluster.logs`` |
| ``charts`` | the helm stand-in for the two enterprise-kgateway charts |
| ``gatewayapi`` | the Gateway API v1.5.0 standard CRDs as the project's own manifests |
| ``multicluster`` | peering of several simulated clusters: global services ``*.mesh.internal`` (R9) |
| ``global_names`` | how a global service is named and referred to: the scope label, the hostname, the backendRef kind (R9.1) |
"""

from __future__ import annotations

from typing import Any

from ..cluster import Cluster


def all_controllers(cluster: Cluster) -> list[Any]:
    """The mesh's controllers in start order: the apps' runtime first (the kubelet asks it about every
    container it starts), then istiod (the others read its view)."""
    from .apps.runtime import AppRuntime
    from .dataplane import DataPlane
    from .istiod import Istiod
    from .kgateway import KgatewayController
    from .waypoint import WaypointController

    return [AppRuntime(), Istiod(), KgatewayController(), WaypointController(), DataPlane()]
