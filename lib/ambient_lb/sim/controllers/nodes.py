"""Nodes from the topology: real-shaped Node objects, Ready, with locality labels.

Who calls it: ``bootstrap`` creates the nodes through ``node_object`` when the cluster starts; the
scheduler, kubelet and EndpointSlice controller read them back from the store. Node labels in the
store are authoritative: relabelling a node's zone (a fault a learner may inject) changes the zone
of its pods' endpoints.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..clock import to_rfc3339
from ..protocols import SimCluster
from ..topology import ClusterTopology, NodeSpec
from .keys import NODES
from .objects import Obj

KUBELET_VERSION = "v1.32.2"
CAPACITY = {"cpu": "8", "ephemeral-storage": "102626232Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
            "memory": "32863628Ki", "pods": "110"}

_CONDITIONS = (  # type, status, reason, message (as a healthy kubelet posts them)
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_object(spec: NodeSpec, topo: ClusterTopology, now: float, rng: Any) -> Obj:
    """A real-shaped Node object for a topology node: locality labels, addresses, capacity, Ready."""
    ts = to_rfc3339(now)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2)]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": spec.node_labels(topo.network), "annotations": {
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": spec.pod_cidr, "podCIDRs": [spec.pod_cidr],
                 "providerID": f"kind://docker/{topo.name}/{spec.name}"},
        "status": {
            "addresses": [{"address": spec.internal_ip, "type": "InternalIP"},
                          {"address": spec.name, "type": "Hostname"}],
            "allocatable": dict(CAPACITY, pods=str(spec.max_pods)), "capacity": dict(CAPACITY, pods=str(spec.max_pods)),
            "conditions": [{"lastHeartbeatTime": ts, "lastTransitionTime": ts, "message": m, "reason": r,
                            "status": s, "type": t} for t, s, r, m in _CONDITIONS],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": [],
            "nodeInfo": {"architecture": "amd64", "bootID": ids[0],
                         "containerRuntimeVersion": "containerd://1.7.24",
                         "kernelVersion": "6.8.0-1019-gcp", "kubeProxyVersion": KUBELET_VERSION,
                         "kubeletVersion": KUBELET_VERSION, "machineID": ids[1].replace("-", ""),
                         "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "systemUUID": ids[1]},
        },
    }


def create_nodes(cluster: SimCluster, topo: ClusterTopology) -> None:
    """Creates the topology's nodes that are not in the store yet."""
    for spec in topo.nodes:
        if cluster.store.get(NODES, None, spec.name) is None:
            cluster.store.create(NODES, node_object(spec, topo, cluster.clock.now(), cluster.rng))


def node_ip(node: Obj | None) -> str:
    """The node's InternalIP, or ""."""
    for a in ((node or {}).get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return a.get("address", "")
    return ""


def max_pods(node: Obj | None) -> int:
    """The node's allocatable pod count (``status.allocatable.pods``; 110 if unset)."""
    try:
        return int((((node or {}).get("status") or {}).get("allocatable") or {}).get("pods", 110))
    except (TypeError, ValueError):
        return 110


def node_ready(node: Obj | None) -> bool:
    """True when the node's Ready condition is True."""
    for c in ((node or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False
