"""Printers for the built-in kinds: the kube-apiserver's column sets and cells, kind by kind.

Who calls it: ``tables.to_table``. ``PRINTERS[(group, kind)]`` is ``(columns, row)``: the column
definitions (priority 1 columns show only with ``-o wide``) and a function
``row(obj, now) -> cells`` (plus optional row conditions). The server always prints every column,
wide ones included, as the real apiserver does; kubectl chooses what to show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cells import containers_and_images, format_labels, format_selector, join_host_port, list_with_more
from .duration import age

Obj = dict[str, Any]
Column = dict[str, Any]
Row = tuple[list[Any], list[dict[str, Any]] | None]

NAME_DESC = "Name must be unique within a namespace."
AGE_DESC = ("CreationTimestamp is a timestamp representing the server time when this object was "
            "created.")


def col(name: str, type_: str = "string", priority: int = 0, desc: str = "", fmt: str = "") -> Column:
    """A Table column definition."""
    return {"name": name, "type": type_, "format": fmt, "description": desc, "priority": priority}


NAME = col("Name", fmt="name", desc=NAME_DESC)
AGE = col("Age", desc=AGE_DESC)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _age(obj: Obj, now: float) -> str:
    return age(_meta(obj).get("creationTimestamp"), now)


# --- Pod ---------------------------------------------------------------------------------------

POD_COLUMNS = [
    NAME,
    col("Ready", desc="The aggregate readiness state of this pod for accepting traffic."),
    col("Status", desc="The aggregate status of the containers in this pod."),
    col("Restarts", desc="The number of times the containers in this pod have been restarted and "
                         "when the last container in this pod has restarted."),
    AGE,
    col("IP", priority=1, desc="IP address allocated to the pod."),
    col("Node", priority=1, desc="The node the pod is scheduled onto."),
    col("Nominated Node", priority=1, desc="The node the scheduler nominated for preemption."),
    col("Readiness Gates", priority=1, desc="Pod conditions evaluated for pod readiness."),
]
POD_DONE = {"Succeeded": [{"type": "Completed", "status": "True", "reason": "Succeeded",
                           "message": "The pod has completed successfully."}],
            "Failed": [{"type": "Completed", "status": "True", "reason": "Failed",
                        "message": "The pod failed."}]}


def pod_row(obj: Obj, now: float) -> Row:
    """``printPod``: READY n/m, the STATUS reason, RESTARTS with ``(5m ago)``, wide columns."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    if phase == "Pending" and any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
                                  for c in status.get("conditions") or []):
        reason = "SchedulingGated"
    init = _init_containers(spec, status, reason) if "initContainers" in spec else _Init(reason)
    ready, restarts, last = init.ready, init.restarts, init.last_restart
    total = len(spec.get("containers") or []) + init.sidecars
    if not init.initializing or _condition_true(status, "Initialized"):
        reason, ready, restarts, last = _main_containers(status, init, init.reason)
    else:
        reason = init.reason
    reason = _deletion_reason(obj, status, phase, reason)
    restarts_cell = str(restarts)
    if restarts and last:
        restarts_cell = f"{restarts} ({age(last, now)} ago)"
    cells = [_meta(obj).get("name", ""), f"{ready}/{total}", reason, restarts_cell, _age(obj, now),
             *_pod_wide(spec, status)]
    return cells, POD_DONE.get(phase)


class _Init:
    def __init__(self, reason: str) -> None:
        self.reason, self.initializing = reason, False
        self.ready = self.restarts = self.sidecars = self.sidecar_restarts = 0
        self.last_restart = self.sidecar_last_restart = ""


def _init_containers(spec: Obj, status: Obj, reason: str) -> _Init:
    """The init-container part of ``printPod`` (sidecars are init containers that always restart)."""
    out = _Init(reason)
    specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    out.sidecars = sum(1 for c in specs.values() if c.get("restartPolicy") == "Always")
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        sidecar = (specs.get(cs.get("name")) or {}).get("restartPolicy") == "Always"
        _count_restarts(out, cs, sidecar)
        blocking = _init_blocking_reason(cs, sidecar, i, len(specs))
        if blocking is None:
            out.ready += 1 if sidecar and cs.get("ready") else 0
            continue
        out.initializing, out.reason = True, blocking
        break
    return out


def _count_restarts(out: _Init, cs: Obj, sidecar: bool) -> None:
    finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt") or ""
    out.restarts += int(cs.get("restartCount") or 0)
    out.last_restart = max(out.last_restart, finished)
    if sidecar:
        out.sidecar_restarts += int(cs.get("restartCount") or 0)
        out.sidecar_last_restart = max(out.sidecar_last_restart, finished)


def _init_blocking_reason(cs: Obj, sidecar: bool, index: int, total: int) -> str | None:
    """Why this init container holds the pod back (``Init:…``), or None if it does not."""
    state = cs.get("state") or {}
    term, wait = state.get("terminated"), state.get("waiting")
    if term is not None and int(term.get("exitCode") or 0) == 0:
        return None
    if sidecar and cs.get("started"):
        return None
    if term is not None:
        return _init_terminated(term)
    if wait is not None and wait.get("reason") and wait.get("reason") != "PodInitializing":
        return "Init:" + wait["reason"]
    return f"Init:{index}/{total}"


def _init_terminated(term: Obj) -> str:
    if term.get("reason"):
        return "Init:" + term["reason"]
    if term.get("signal"):
        return f"Init:Signal:{term['signal']}"
    return f"Init:ExitCode:{term.get('exitCode', 0)}"


def _main_containers(status: Obj, init: _Init, reason: str) -> tuple[str, int, int, str]:
    """The app-container part of ``printPod``, walking statuses last to first as the printer does."""
    ready, restarts, last = init.ready, init.sidecar_restarts, init.sidecar_last_restart
    has_running = False
    for cs in reversed(status.get("containerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt") or ""
        last = max(last, finished)
        state = cs.get("state") or {}
        wait, term = state.get("waiting"), state.get("terminated")
        if wait is not None and wait.get("reason"):
            reason = wait["reason"]
        elif term is not None and term.get("reason"):
            reason = term["reason"]
        elif term is not None:
            reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
        elif cs.get("ready") and state.get("running") is not None:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if _condition_true(status, "Ready") else "NotReady"
    return reason, ready, restarts, last


def _deletion_reason(obj: Obj, status: Obj, phase: str, reason: str) -> str:
    if not _meta(obj).get("deletionTimestamp"):
        return reason
    if status.get("reason") == "NodeLost":
        return "Unknown"
    return reason if phase in ("Succeeded", "Failed") else "Terminating"


def _condition_true(status: Obj, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in status.get("conditions") or [])


def _pod_wide(spec: Obj, status: Obj) -> list[str]:
    ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    gates = spec.get("readinessGates") or []
    gates_cell = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        gates_cell = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    return [(ips[0].get("ip") if ips else "") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_cell]


# --- workloads -----------------------------------------------------------------------------------

WIDE_WORKLOAD = [col("Containers", priority=1, desc="Names of each container in the template."),
                 col("Images", priority=1, desc="Images referenced by each container in the template."),
                 col("Selector", priority=1, desc="Label selector for pods.")]


def _workload_wide(obj: Obj) -> list[str]:
    spec = obj.get("spec") or {}
    names, images = containers_and_images((spec.get("template") or {}).get("spec"))
    return [names, images, format_selector(spec.get("selector"))]


DEPLOYMENT_COLUMNS = [NAME, col("Ready", desc="Number of the pod with ready state"),
                      col("Up-to-date", "integer", desc="Total number of non-terminated pods targeted "
                          "by this deployment that have the desired template spec."),
                      col("Available", "integer", desc="Total number of available pods (ready for at "
                          "least minReadySeconds) targeted by this deployment."),
                      AGE, *WIDE_WORKLOAD]


def deployment_row(obj: Obj, now: float) -> Row:
    """A Deployment's row as ``kubectl get deployments`` (and ``-o wide``) shows it."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    cells = [_meta(obj).get("name", ""),
             f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas', 1) or 0)}",
             int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0),
             _age(obj, now), *_workload_wide(obj)]
    return cells, None


REPLICASET_COLUMNS = [NAME, col("Desired", "integer", desc="Number of desired pods."),
                      col("Current", "integer", desc="Number of actual replicas."),
                      col("Ready", "integer", desc="The number of ready replicas for this replica set."),
                      AGE, *WIDE_WORKLOAD]


def replicaset_row(obj: Obj, now: float) -> Row:
    """A ReplicaSet's row as ``kubectl get replicasets`` (and ``-o wide``) shows it."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [_meta(obj).get("name", ""), int(spec.get("replicas", 1) or 0), int(status.get("replicas") or 0),
            int(status.get("readyReplicas") or 0), _age(obj, now), *_workload_wide(obj)], None


def replication_controller_row(obj: Obj, now: float) -> Row:
    """``printReplicationController``: as a ReplicaSet, the selector a plain map (R16.20)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = containers_and_images((spec.get("template") or {}).get("spec"))
    return [_meta(obj).get("name", ""), int(spec.get("replicas", 1) or 0), int(status.get("replicas") or 0),
            int(status.get("readyReplicas") or 0), _age(obj, now), names, images,
            format_labels(spec.get("selector"))], None


DAEMONSET_COLUMNS = [NAME, col("Desired", "integer", desc="The number of nodes that should be running the "
                               "daemon pod."),
                     col("Current", "integer", desc="The number of nodes running at least one daemon pod."),
                     col("Ready", "integer", desc="The number of nodes running a ready daemon pod."),
                     col("Up-to-date", "integer", desc="The number of nodes running the updated daemon pod."),
                     col("Available", "integer", desc="The number of nodes running an available daemon pod."),
                     col("Node Selector", desc="NodeSelector is a selector which must be true for the "
                         "pod to fit on a node."),
                     AGE, *WIDE_WORKLOAD]


def daemonset_row(obj: Obj, now: float) -> Row:
    """A DaemonSet's row as ``kubectl get daemonsets`` (and ``-o wide``) shows it."""
    status = obj.get("status") or {}
    pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    counts = [int(status.get(k) or 0) for k in ("desiredNumberScheduled", "currentNumberScheduled",
                                                 "numberReady", "updatedNumberScheduled", "numberAvailable")]
    return [_meta(obj).get("name", ""), *counts, format_labels(pod_spec.get("nodeSelector")),
            _age(obj, now), *_workload_wide(obj)], None


# --- Service, Endpoints, EndpointSlice ---------------------------------------------------------

SERVICE_COLUMNS = [NAME, col("Type", desc="The type of the service."),
                   col("Cluster-IP", desc="The IP address of the service, allocated by the cluster."),
                   col("External-IP", desc="External IPs and load-balancer ingress addresses."),
                   col("Port(s)", desc="The ports that are exposed by this service."),
                   AGE, col("Selector", priority=1, desc="Route service traffic to pods with label "
                            "keys and values matching this selector.")]


def service_row(obj: Obj, now: float) -> Row:
    """A Service's row as ``kubectl get services`` shows it."""
    spec = obj.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = ",".join(_service_port(p) for p in spec.get("ports") or [])
    return [_meta(obj).get("name", ""), spec.get("type") or "ClusterIP",
            cluster_ips[0] if cluster_ips else "<none>", _external_ip(obj), ports or "<none>",
            _age(obj, now), format_labels(spec.get("selector"))], None


def _service_port(p: Obj) -> str:
    proto = p.get("protocol") or "TCP"
    if p.get("nodePort"):
        return f"{p.get('port')}:{p['nodePort']}/{proto}"
    return f"{p.get('port')}/{proto}"


def _external_ip(obj: Obj) -> str:
    """``getServiceExternalIP``: ``<pending>`` for a LoadBalancer without ingress."""
    spec = obj.get("spec") or {}
    kind, external = spec.get("type") or "ClusterIP", list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "ExternalName":
        return spec.get("externalName") or ""
    if kind != "LoadBalancer":
        return "<unknown>"
    ingress = (((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")) or []
    lb = sorted({i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")})
    return ",".join(lb + external) or "<pending>"


ENDPOINTS_COLUMNS = [NAME, col("Endpoints", desc="Endpoints of the service."), AGE]


def endpoints_row(obj: Obj, now: float) -> Row:
    """An Endpoints object's row: its addresses and ports (the first few, then ``+ N more...``)."""
    items: list[str] = []
    for ss in obj.get("subsets") or []:
        addrs = [a.get("ip", "") for a in ss.get("addresses") or []]
        ports = ss.get("ports") or []
        items += addrs if not ports else [join_host_port(a, p.get("port")) for p in ports for a in addrs]
    return [_meta(obj).get("name", ""), list_with_more(items, "<none>"), _age(obj, now)], None


SLICE_COLUMNS = [NAME, col("AddressType", desc="The type of address carried by this EndpointSlice."),
                 col("Ports", desc="Network ports exposed by the endpoints in this slice."),
                 col("Endpoints", desc="Addresses of the endpoints in this slice."), AGE]


def endpointslice_row(obj: Obj, now: float) -> Row:
    """An EndpointSlice's row: address type, ports and addresses."""
    ports = [str(p["port"]) if p.get("port") is not None else (p.get("name") or "*")
             for p in obj.get("ports") or []]
    addrs = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [_meta(obj).get("name", ""), obj.get("addressType", ""), list_with_more(ports),
            list_with_more(addrs), _age(obj, now)], None


# --- cluster objects -----------------------------------------------------------------------------

NAMESPACE_COLUMNS = [NAME, col("Status", desc="The status of the namespace"), AGE]


def namespace_row(obj: Obj, now: float) -> Row:
    """A Namespace's row: name, phase, age."""
    return [_meta(obj).get("name", ""), (obj.get("status") or {}).get("phase", ""), _age(obj, now)], None


NODE_COLUMNS = [NAME, col("Status", desc="The status of the node"), col("Roles", desc="The roles of the node"),
                AGE, col("Version", desc="Kubelet Version reported by the node."),
                col("Internal-IP", priority=1, desc="List of addresses reachable to the node."),
                col("External-IP", priority=1, desc="List of addresses reachable to the node."),
                col("OS-Image", priority=1, desc="OS Image reported by the node."),
                col("Kernel-Version", priority=1, desc="Kernel Version reported by the node."),
                col("Container-Runtime", priority=1, desc="Container Runtime Version reported by the node.")]


def node_row(obj: Obj, now: float) -> Row:
    """A Node's row as ``kubectl get nodes`` (and ``-o wide``) shows it."""
    status, labels = obj.get("status") or {}, _meta(obj).get("labels") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = [("Ready" if c.get("status") == "True" else "NotReady") for c in ready[-1:]] or ["Unknown"]
    if (obj.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = sorted({k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")
                    and k.split("/", 1)[1]} | ({labels["kubernetes.io/role"]}
                                               if labels.get("kubernetes.io/role") else set()))
    info = status.get("nodeInfo") or {}
    return [_meta(obj).get("name", ""), ",".join(states), ",".join(roles) or "<none>", _age(obj, now),
            info.get("kubeletVersion", ""), _address(status, "InternalIP"), _address(status, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"], None


def _address(status: Obj, kind: str) -> str:
    return next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == kind), "<none>")


EVENT_COLUMNS = [col("Last Seen"), col("Type"), col("Reason"), col("Object"),
                 col("Subobject", priority=1), col("Source", priority=1), col("Message"),
                 col("First Seen", priority=1), col("Count", priority=1), col("Name", priority=1)]


def event_row(obj: Obj, now: float) -> Row:
    """``printEvent``; events.k8s.io/v1 fields are read through their core/v1 names."""
    e = _as_core_event(obj)
    first = age(e.get("firstTimestamp"), now) if e.get("firstTimestamp") else age(e.get("eventTime"), now)
    last = age(e["lastTimestamp"], now) if e.get("lastTimestamp") else first
    count = int(e.get("count") or 0)
    series = e.get("series")
    if series:
        last, count = age(series.get("lastObservedTime"), now), int(series.get("count") or 0)
    elif count == 0:
        count = 1
    inv = e.get("involvedObject") or {}
    kind = str(inv.get("kind") or "").lower()
    target = f"{kind}/{inv['name']}" if inv.get("name") else kind
    source = e.get("source") or {}
    component = source.get("component") or e.get("reportingComponent") or ""
    host = source.get("host") or e.get("reportingInstance") or ""
    return [last, e.get("type", ""), e.get("reason", ""), target, inv.get("fieldPath", ""),
            f"{component}, {host}" if host else component, str(e.get("message") or "").strip(),
            first, count, _meta(obj).get("name", "")], None


def _as_core_event(obj: Obj) -> Obj:
    if not str(obj.get("apiVersion", "")).startswith("events.k8s.io/"):
        return obj
    return {"firstTimestamp": obj.get("deprecatedFirstTimestamp"),
            "lastTimestamp": obj.get("deprecatedLastTimestamp"), "eventTime": obj.get("eventTime"),
            "count": obj.get("deprecatedCount"), "series": obj.get("series"), "type": obj.get("type"),
            "reason": obj.get("reason"), "involvedObject": obj.get("regarding"), "message": obj.get("note"),
            "source": obj.get("deprecatedSource"), "reportingComponent": obj.get("reportingController"),
            "reportingInstance": obj.get("reportingInstance")}


# --- small kinds -------------------------------------------------------------------------------

def _counted(label: str, desc: str, count: Callable[[Obj], int]) -> tuple[list[Column], Callable[[Obj, float], Row]]:
    def row(obj: Obj, now: float) -> Row:
        return [_meta(obj).get("name", ""), count(obj), _age(obj, now)], None
    return [NAME, col(label, "integer", desc=desc), AGE], row


SECRET_COLUMNS = [NAME, col("Type", desc="The type of the secret"),
                  col("Data", "integer", desc="The number of entries in the secret data."), AGE]


def secret_row(obj: Obj, now: float) -> Row:
    """A Secret's row: name, type, number of data keys, age."""
    return [_meta(obj).get("name", ""), obj.get("type") or "Opaque", len(obj.get("data") or {}),
            _age(obj, now)], None


LEASE_COLUMNS = [NAME, col("Holder", desc="The holder of the lease."), AGE]


def lease_row(obj: Obj, now: float) -> Row:
    """A Lease's row: name, holder, age."""
    return [_meta(obj).get("name", ""), (obj.get("spec") or {}).get("holderIdentity", ""), _age(obj, now)], None


DEFAULT_COLUMNS = [NAME, col("Created At", "date", desc=AGE_DESC)]


def default_row(obj: Obj, now: float) -> Row:
    """The apiserver's default table convertor (CRDs, kinds without a printer): NAME, CREATED AT."""
    created = _meta(obj).get("creationTimestamp") or "0001-01-01T00:00:00Z"
    return [_meta(obj).get("name", ""), created], None


Printer = tuple[list[Column], Callable[[Obj, float], Row]]

PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): (POD_COLUMNS, pod_row),
    ("apps", "Deployment"): (DEPLOYMENT_COLUMNS, deployment_row),
    ("apps", "ReplicaSet"): (REPLICASET_COLUMNS, replicaset_row),
    ("", "ReplicationController"): (REPLICASET_COLUMNS, replication_controller_row),
    ("apps", "DaemonSet"): (DAEMONSET_COLUMNS, daemonset_row),
    ("", "Service"): (SERVICE_COLUMNS, service_row),
    ("", "Endpoints"): (ENDPOINTS_COLUMNS, endpoints_row),
    ("discovery.k8s.io", "EndpointSlice"): (SLICE_COLUMNS, endpointslice_row),
    ("", "Namespace"): (NAMESPACE_COLUMNS, namespace_row),
    ("", "Node"): (NODE_COLUMNS, node_row),
    ("", "Event"): (EVENT_COLUMNS, event_row),
    ("events.k8s.io", "Event"): (EVENT_COLUMNS, event_row),
    ("", "ServiceAccount"): _counted("Secrets", "Secrets is a list of the secrets in the same namespace "
                                     "that pods running using this ServiceAccount are allowed to use.",
                                     lambda o: len(o.get("secrets") or [])),
    ("", "ConfigMap"): _counted("Data", "The number of entries in the config map.",
                                lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
    ("", "Secret"): (SECRET_COLUMNS, secret_row),
    ("coordination.k8s.io", "Lease"): (LEASE_COLUMNS, lease_row),
}
DEFAULT_PRINTER: Printer = (DEFAULT_COLUMNS, default_row)

