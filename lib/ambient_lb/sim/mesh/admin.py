"""Envoy admin of the waypoint pods (127.0.0.1:15000) and the kgateway proxy pods (127.0.0.1:19000).

Who calls it: ``pod_sockets`` registers one ``EnvoyAdmin`` per proxy pod as a loopback-only
``PodPort`` (R13.1, R13.2): ``kubectl exec … pilot-agent request GET stats`` (``pilot_agent``) and
``kubectl port-forward … 19000`` reach it, the API server's ``pods/proxy`` does not.
``DataPlane.start()`` starts ``pod_sockets``, which keeps those ports registered.

| path | what |
| --- | --- |
| ``/stats`` | the stats the proxy keeps (Istio's inclusion list at the waypoint, R13.3–R13.5; all at kgateway); ``?filter=<regex>``, ``?format=json`` |
| ``/clusters`` | Envoy's text per cluster and host, ``health_flags`` e.g. ``/failed_outlier_check`` (R2.10, R13.11) |
| ``/config_dump`` | the cluster part; ``?resource=dynamic_active_clusters`` (R13.12), ``?mask=cluster.name`` |
| ``/ready``, ``/server_info``, ``/help`` | ``LIVE``, a short JSON document, the list of commands |

Anything else gets Envoy's 404 ``invalid path. admin commands are: …`` (R13.7, R13.13). Only
clusters the proxy has built are listed; a proxy builds a cluster on its first request for it [model].
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..clock import to_rfc3339, to_rfc3339_milli
from ..cluster import Cluster
from . import objects as o
from .model.admin import clusters_text, collect_stats
from .model.config_dump import DumpedCluster, dump_text, dynamic_active_clusters
from .model.envoy_cluster import EnvoyCluster
from .model.proxy_flavours import ClusterShape, Flavour, istio_eds
from .model.stats_matcher import KEEP_ALL, StatsMatcher
from .proxies import Proxy
from .proxy_config import waypoint_stats_matcher

TEXT = "text/plain; charset=UTF-8"
JSON = "application/json"
Reply = tuple[int, str, bytes]

#: R13.13: the commands this admin serves, as ``/help`` and the 404 list them.
COMMANDS = {"/clusters": "upstream cluster status", "/config_dump": "dump current Envoy configs (experimental)",
            "/help": "print out list of admin commands", "/ready": "print server state, return 200 if LIVE, "
            "otherwise return 503", "/server_info": "print server version/status information",
            "/stats": "print server stats"}
#: ``config_dump?resource=`` values this model answers (the cluster dump's repeated fields, R13.12).
CLUSTER_RESOURCES = ("dynamic_active_clusters", "dynamic_warming_clusters", "static_clusters")


def help_text() -> str:
    """What ``/help`` prints: every admin path with what it does."""
    return "admin commands are:\n" + "".join(f"  {p}: {h}\n" for p, h in sorted(COMMANDS.items()))


class EnvoyAdmin:
    """One proxy pod's Envoy admin, answering from the data plane's state of that proxy."""

    def __init__(self, cluster: Cluster, dp: Any, ns: str, pod: str, flavour: Flavour,
                 matcher: Callable[[], StatsMatcher]) -> None:
        self.cluster, self.dp, self.ns, self.pod, self.flavour = cluster, dp, ns, pod, flavour
        self._matcher_source = matcher
        self._matcher: StatsMatcher | None = None
        self.started_at = cluster.clock.now()
        self.paths: dict[str, Callable[[dict[str, str]], Reply]] = {
            "/stats": self.stats, "/clusters": self.clusters, "/config_dump": self.config_dump,
            "/ready": lambda q: (200, TEXT, b"LIVE\n"), "/server_info": self.server_info,
            "/help": lambda q: (200, TEXT, help_text().encode())}

    async def __call__(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        """Answers one admin request; 404 with the help text for an unknown path."""
        handler = self.paths.get("/" + path.lstrip("/"))
        if handler is None:
            return 404, TEXT, ("invalid path. " + help_text()).encode()
        return handler(query)

    # ---- state -----------------------------------------------------------------------------------
    @property
    def matcher(self) -> StatsMatcher:
        """R13.5, R13.13: fixed when the proxy first answers (pilot-agent builds the bootstrap once)."""
        if self._matcher is None:
            self._matcher = self._matcher_source()
        return self._matcher

    def proxy(self) -> Proxy | None:
        """The data plane's state of this proxy pod, or None before it has handled a request."""
        return self.dp.proxies.by_pod.get((self.ns, self.pod))

    def built(self) -> list[EnvoyCluster]:
        """The Envoy clusters the proxy has built, by name."""
        proxy = self.proxy()
        return [e.cluster for _, e in sorted(proxy.clusters.items())] if proxy else []

    def shape(self, cluster: EnvoyCluster) -> ClusterShape:
        """Istio: EDS named after the cluster. kgateway: STATIC when its hosts are Service VIPs (R1.3)."""
        if self.flavour.name == "istio":
            return istio_eds(cluster.config.name)
        vips = self.dp.istiod.view.by_vip
        static = bool(cluster.hosts) and all(h.address.rsplit(":", 1)[0] in vips for h in cluster.hosts)
        return ClusterShape(self.flavour, "STATIC" if static else "EDS")

    def server_stats(self) -> dict[str, int]:
        """A few ``server.*`` and ``cluster_manager.*`` stats (kept by Istio's default list, R13.3)."""
        proxy = self.proxy()
        manager = proxy.manager if proxy else {}
        return {"cluster_manager.active_clusters": len(self.built()),
                "cluster_manager.cluster_added": manager.get("cluster_added", 0),
                "cluster_manager.cluster_modified": manager.get("cluster_modified", 0),
                "cluster_manager.cluster_removed": 0, "server.concurrency": 1, "server.live": 1,
                "server.state": 0, "server.uptime": int(self.cluster.clock.now() - self.started_at)}

    # ---- paths -----------------------------------------------------------------------------------
    def stats(self, query: dict[str, str]) -> Reply:
        """``/stats``: the stats the proxy keeps, filtered by ``filter=<regex>``, as text or ``format=json``."""
        stats = collect_stats(self.built(), self.server_stats(), self.matcher)
        pattern = query.get("filter")
        if pattern:
            try:
                rx = re.compile(pattern)
            except re.error as exc:
                return 400, TEXT, f"Invalid re2 regex {pattern!r}: {exc}\n".encode()
            stats = {k: v for k, v in stats.items() if rx.search(k)}
        if query.get("format") == "json":
            doc = {"stats": [{"name": k, "value": v} for k, v in stats.items()]}
            return 200, JSON, json.dumps(doc, indent=1).encode()
        return 200, TEXT, "".join(f"{k}: {v}\n" for k, v in stats.items()).encode()

    def clusters(self, query: dict[str, str]) -> Reply:
        """``/clusters``: each built cluster's hosts with their counters and health flags."""
        return 200, TEXT, clusters_text(self.built(), self.shape).encode()

    def config_dump(self, query: dict[str, str]) -> Reply:
        """``/config_dump``: the dynamic active clusters, or one resource's dump when ``resource=`` is given."""
        dumped = [DumpedCluster(c, self.shape(c), self._version(c), to_rfc3339_milli(c.created_at))
                  for c in self.built()]
        resource = query.get("resource")
        if resource is None:
            active = dynamic_active_clusters(dumped)["configs"]
            doc: dict[str, Any] = {"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                                                "dynamic_active_clusters": [
                                                    {k: v for k, v in c.items() if k != "@type"} for c in active]}]}
        elif resource in CLUSTER_RESOURCES:
            doc = dynamic_active_clusters(dumped if resource == "dynamic_active_clusters" else [])
        else:
            return 501, TEXT, (f"[ambient-lb simulator] config_dump resource={resource} is not modelled; "
                               f"modelled: {', '.join(CLUSTER_RESOURCES)}\n").encode()
        if query.get("mask") and resource:
            doc["configs"] = [_masked(c, query["mask"]) for c in doc["configs"]]
        return 200, JSON, dump_text(doc).encode()

    def _version(self, cluster: EnvoyCluster) -> str:
        """``version_info`` of the push that built the cluster (Istio's ``<time>/<n>`` form) [model]."""
        return f"{to_rfc3339(cluster.created_at)}/{self.dp.istiod.view.version}"

    def server_info(self, query: dict[str, str]) -> Reply:
        """``/server_info``: the proxy's node id, state and uptime."""
        doc = {"version": "envoy", "state": "LIVE", "node": {"id": f"{self.pod}.{self.ns}"},
               "command_line_options": {"concurrency": 1},
               "uptime_current_epoch": f"{int(self.cluster.clock.now() - self.started_at)}s"}
        return 200, JSON, json.dumps(doc, indent=1).encode()


def _masked(entry: dict[str, Any], mask: str) -> dict[str, Any]:
    """``mask=cluster.name,cluster.lb_policy``: keep only those fields of each dumped element."""
    out: dict[str, Any] = {"@type": entry.get("@type")}
    for path in mask.split(","):
        src: Any = entry
        dst, parts = out, path.strip().split(".")
        for part in parts[:-1]:
            src = src.get(part) if isinstance(src, dict) else None
            dst = dst.setdefault(part, {})
        if isinstance(src, dict) and parts[-1] in src:
            dst[parts[-1]] = src[parts[-1]]
    return out


def matcher_for(cluster: Cluster, flavour: Flavour, ns: str, pod: str) -> Callable[[], StatsMatcher]:
    """The source of a proxy's stats matcher: Istio's list from the pod (R13.5), or all stats (R13.2)."""
    if flavour.name != "istio":
        return lambda: KEEP_ALL

    def build() -> StatsMatcher:
        matcher, problems = waypoint_stats_matcher(cluster, cluster.store.get(o.PODS, ns, pod))
        for problem in problems:
            cluster.logs.write(ns, pod, flavour.container, f"[ambient-lb simulator] {problem}")
        return matcher
    return build
