"""Server-side Table printing: the kube-apiserver's columns and cells (research: kubernetes-api-surface §2.5).

Every expected cell here is what ``kubectl get`` shows for the same object on a real cluster.
"""

from __future__ import annotations

import pytest

from ambient_lb.sim.clock import to_rfc3339
from ambient_lb.sim.resources import Registry, ResourceType
from ambient_lb.sim.store import GR
from ambient_lb.sim.tables import columns_for, human_duration, to_table

NOW = 1_700_000_000.0
REG = Registry()


def ago(seconds: float) -> str:
    return to_rfc3339(NOW - seconds)


def rtype(group: str, resource: str) -> ResourceType:
    t = REG.get(GR(group, resource))
    assert t is not None
    return t


def cells(group: str, resource: str, obj: dict) -> list:
    return to_table(rtype(group, resource), [obj], now=NOW)["rows"][0]["cells"]


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (-1, "0s"), (-2, "<invalid>"), (45, "45s"), (119.9, "119s"), (120, "2m"), (150, "2m30s"),
    (599, "9m59s"), (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (5 * 3600 + 60, "5h1m"),
    (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (50 * 3600, "2d2h"), (8 * 86400, "8d"),
    (729 * 86400, "729d"), (2 * 365 * 86400, "2y"), (3 * 365 * 86400 + 86400 * 10, "3y10d"),
    (9 * 365 * 86400, "9y"),
])
def test_human_duration_follows_kubernetes_thresholds(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


# --- pods ----------------------------------------------------------------------------------------

def pod(status: dict, *, deleting: bool = False, containers: int = 1, init: list | None = None,
        gates: int = 0) -> dict:
    md: dict = {"name": "web-7d8f9b6c54-abc12", "namespace": "demo", "creationTimestamp": ago(90)}
    if deleting:
        md["deletionTimestamp"] = ago(1)
    spec: dict = {"containers": [{"name": f"c{i}"} for i in range(containers)], "nodeName": "sim-node-1"}
    if init:
        spec["initContainers"] = init
    if gates:
        spec["readinessGates"] = [{"conditionType": "example.com/gate"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


RUNNING = {"running": {"startedAt": ago(80)}}


def cs(state: dict, ready: bool = False, restarts: int = 0, last_finished: float | None = None) -> dict:
    out = {"name": "c0", "state": state, "ready": ready, "restartCount": restarts}
    if last_finished is not None:
        out["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": ago(last_finished)}}
    return out


POD_CASES = [
    ("pending_unscheduled", pod({"phase": "Pending"}), ["0/1", "Pending", "0"]),
    ("container_creating", pod({"phase": "Pending", "containerStatuses": [
        cs({"waiting": {"reason": "ContainerCreating"}})]}), ["0/1", "ContainerCreating", "0"]),
    ("running_ready", pod({"phase": "Running", "containerStatuses": [cs(RUNNING, True)]}),
     ["1/1", "Running", "0"]),
    ("running_not_ready", pod({"phase": "Running", "containerStatuses": [cs(RUNNING, False)]}),
     ["0/1", "Running", "0"]),
    ("terminating", pod({"phase": "Running", "containerStatuses": [cs(RUNNING, True)]}, deleting=True),
     ["1/1", "Terminating", "0"]),
    ("completed", pod({"phase": "Succeeded", "containerStatuses": [
        cs({"terminated": {"reason": "Completed", "exitCode": 0}})]}), ["0/1", "Completed", "0"]),
    ("crash_loop_with_last_restart", pod({"phase": "Running", "containerStatuses": [
        cs({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=5, last_finished=300)]}),
     ["0/1", "CrashLoopBackOff", "5 (5m ago)"]),
    ("exit_code_without_reason", pod({"phase": "Failed", "containerStatuses": [
        cs({"terminated": {"exitCode": 2}})]}), ["0/1", "ExitCode:2", "0"]),
    ("two_containers_one_ready", pod({"phase": "Running", "containerStatuses": [
        cs(RUNNING, True), dict(cs(RUNNING, False), name="c1")]}, containers=2), ["1/2", "Running", "0"]),
    ("init_running", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i", "state": {"running": {}}, "ready": False, "restartCount": 0}]},
        init=[{"name": "i"}]), ["0/1", "Init:0/1", "0"]),
    ("init_crash_loop", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "ready": False, "restartCount": 3}]},
        init=[{"name": "i"}]), ["0/1", "Init:CrashLoopBackOff", "3"]),
    ("sidecar_counts_as_a_container", pod({"phase": "Running", "conditions": [
        {"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [{"name": "proxy", "state": {"running": {}}, "ready": True, "started": True,
                                   "restartCount": 0}],
        "containerStatuses": [cs(RUNNING, True)]}, init=[{"name": "proxy", "restartPolicy": "Always"}]),
     ["2/2", "Running", "0"]),
]


@pytest.mark.parametrize("name,obj,expected", POD_CASES, ids=[c[0] for c in POD_CASES])
def test_pod_ready_status_and_restarts_cells(name: str, obj: dict, expected: list) -> None:
    """``printPod``: the STATUS column is the reason kubectl shows for each lifecycle state."""
    row = cells("", "pods", obj)
    assert row[0] == "web-7d8f9b6c54-abc12"
    assert row[1:4] == expected
    assert row[4] == "90s"


def test_pod_wide_columns_and_row_conditions() -> None:
    status = {"phase": "Succeeded", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}],
              "conditions": [{"type": "example.com/gate", "status": "True"}]}
    table = to_table(rtype("", "pods"), [pod(status, gates=1)], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    assert [c["priority"] for c in table["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert table["rows"][0]["cells"][5:] == ["10.244.1.7", "sim-node-1", "<none>", "1/1"]
    assert table["rows"][0]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                              "message": "The pod has completed successfully."}]


# --- workloads -------------------------------------------------------------------------------------

TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}}
SELECTOR = {"matchLabels": {"app": "web"}, "matchExpressions": [
    {"key": "tier", "operator": "In", "values": ["b", "a"]}, {"key": "canary", "operator": "DoesNotExist"}]}


def workload(kind: str, spec: dict, status: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web", "creationTimestamp": ago(3700)},
            "spec": {"selector": SELECTOR, "template": TEMPLATE, **spec}, "status": status}


WIDE = ["web,log", "nginx:1,busybox", "app=web,!canary,tier in (a,b)"]  # sorted by key


@pytest.mark.parametrize("resource,obj,expected", [
    ("deployments", workload("Deployment", {"replicas": 3},
                             {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}),
     ["web", "2/3", 3, 2, "61m", *WIDE]),
    ("replicasets", workload("ReplicaSet", {"replicas": 3}, {"replicas": 3, "readyReplicas": 1}),
     ["web", 3, 3, 1, "61m", *WIDE]),
    ("daemonsets", workload("DaemonSet", {"template": dict(TEMPLATE, spec=dict(
        TEMPLATE["spec"], nodeSelector={"kubernetes.io/os": "linux"}))},
        {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
         "updatedNumberScheduled": 3, "numberAvailable": 2}),
     ["web", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "61m", *WIDE]),
])
def test_workload_rows(resource: str, obj: dict, expected: list) -> None:
    assert cells("apps", resource, obj) == expected


def test_workload_column_names() -> None:
    names = {r: [c["name"] for c in columns_for(rtype("apps", r))]
             for r in ("deployments", "replicasets", "daemonsets")}
    assert names == {
        "deployments": ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"],
        "replicasets": ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"],
        "daemonsets": ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age",
                       "Containers", "Images", "Selector"]}


# --- services and endpoints --------------------------------------------------------------------------

def service(spec: dict, status: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "httpbin", "creationTimestamp": ago(30)},
            "spec": spec, "status": status or {}}


@pytest.mark.parametrize("spec,status,expected", [
    ({"type": "ClusterIP", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 8000, "protocol": "TCP"}],
      "selector": {"app": "httpbin"}}, None,
     ["httpbin", "ClusterIP", "10.96.0.10", "<none>", "8000/TCP", "30s", "app=httpbin"]),
    ({"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"],
      "ports": [{"port": 8080, "nodePort": 31234, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}, None,
     ["httpbin", "LoadBalancer", "10.96.0.11", "<pending>", "8080:31234/TCP,53/UDP", "30s", "<none>"]),
    ({"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 80}]},
     {"loadBalancer": {"ingress": [{"ip": "172.18.0.5"}, {"hostname": "lb.example.com"}]}},
     ["httpbin", "LoadBalancer", "10.96.0.11", "172.18.0.5,lb.example.com", "80/TCP", "30s", "<none>"]),
    ({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}, None,
     ["httpbin", "ClusterIP", "None", "<none>", "<none>", "30s", "<none>"]),
    ({"type": "ExternalName", "externalName": "example.com"}, None,
     ["httpbin", "ExternalName", "<none>", "example.com", "<none>", "30s", "<none>"]),
])
def test_service_rows(spec: dict, status: dict | None, expected: list) -> None:
    assert cells("", "services", service(spec, status)) == expected


def test_endpointslice_lists_three_then_more() -> None:
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "httpbin-abc", "creationTimestamp": ago(5)}, "addressType": "IPv4",
           "ports": [{"name": "http", "port": 8000}],
           "endpoints": [{"addresses": [f"10.244.0.{i}"]} for i in range(1, 6)]}
    assert cells("discovery.k8s.io", "endpointslices", eps) == [
        "httpbin-abc", "IPv4", "8000", "10.244.0.1,10.244.0.2,10.244.0.3 + 2 more...", "5s"]
    eps["endpoints"] = []
    assert cells("discovery.k8s.io", "endpointslices", eps)[3] == "<unset>"


# --- cluster objects and small kinds ---------------------------------------------------------------

def test_namespace_node_and_small_kinds() -> None:
    ns = {"metadata": {"name": "demo", "creationTimestamp": ago(10)}, "status": {"phase": "Terminating"}}
    assert cells("", "namespaces", ns) == ["demo", "Terminating", "10s"]
    node = {"metadata": {"name": "sim-node-1", "creationTimestamp": ago(86400 * 3),
                         "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian", "kernelVersion": "6.1",
                                    "containerRuntimeVersion": "containerd://1.7"}}}
    assert cells("", "nodes", node) == ["sim-node-1", "Ready,SchedulingDisabled", "control-plane,worker", "3d",
                                        "v1.32.0", "172.18.0.2", "<none>", "Debian", "6.1", "containerd://1.7"]
    meta = {"name": "x", "creationTimestamp": ago(61)}
    assert cells("", "configmaps", {"metadata": meta, "data": {"a": "1"}, "binaryData": {"b": ""}}) == ["x", 2, "61s"]
    assert cells("", "secrets", {"metadata": meta, "type": "kubernetes.io/tls", "data": {"a": "", "b": ""}}) == [
        "x", "kubernetes.io/tls", 2, "61s"]
    assert cells("", "serviceaccounts", {"metadata": meta}) == ["x", 0, "61s"]
    assert cells("apiextensions.k8s.io", "customresourcedefinitions", {"metadata": meta}) == [
        "x", ago(61)]


def test_event_row_reads_core_and_events_k8s_io_shapes() -> None:
    core = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "creationTimestamp": ago(20)},
            "type": "Normal", "reason": "Scheduled", "message": "Successfully assigned demo/web to sim-node-1 ",
            "involvedObject": {"kind": "Pod", "name": "web"}, "source": {"component": "default-scheduler"},
            "firstTimestamp": ago(20), "lastTimestamp": ago(20), "count": 1}
    assert cells("", "events", core) == ["20s", "Normal", "Scheduled", "pod/web", "", "default-scheduler",
                                         "Successfully assigned demo/web to sim-node-1", "20s", 1, "web.1"]
    new = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "web.2"},
           "eventTime": ago(130), "type": "Warning", "reason": "BackOff", "note": "Back-off restarting",
           "regarding": {"kind": "Pod", "name": "web"}, "reportingController": "kubelet",
           "reportingInstance": "sim-node-1", "series": {"count": 4, "lastObservedTime": ago(10)}}
    assert cells("events.k8s.io", "events", new) == ["10s", "Warning", "BackOff", "pod/web", "",
                                                     "kubelet, sim-node-1", "Back-off restarting", "2m10s", 4, "web.2"]


# --- CRD printer columns ------------------------------------------------------------------------------

GATEWAY_CRD = {"spec": {"group": "gateway.networking.k8s.io", "names": {"kind": "Gateway", "plural": "gateways"},
                        "scope": "Namespaced", "versions": [{"name": "v1", "served": True, "storage": True,
                                                             "additionalPrinterColumns": [
    {"name": "Class", "type": "string", "jsonPath": ".spec.gatewayClassName"},
    {"name": "Address", "type": "string", "jsonPath": ".status.addresses[*].value"},
    {"name": "Programmed", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Programmed")].status'},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Listeners", "type": "integer", "jsonPath": ".spec.listeners.length", "priority": 1},
    {"name": "Hostnames", "type": "string", "jsonPath": ".spec.hostnames", "priority": 1}]}]}}


def gateway(status: dict) -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "http", "namespace": "kgateway-system", "creationTimestamp": ago(200)},
            "spec": {"gatewayClassName": "enterprise-kgateway", "hostnames": ["a.example.com", "b<x>"]},
            "status": status}


def test_gateway_printer_columns_use_first_jsonpath_result() -> None:
    t = REG.register_crd(GATEWAY_CRD)
    ready = {"addresses": [{"value": "172.18.0.9"}, {"value": "10.0.0.1"}],
             "conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "True"}]}
    table = to_table(t, [gateway(ready), gateway({})], now=NOW)
    defs = table["columnDefinitions"]
    assert [(c["name"], c["type"], c["priority"]) for c in defs] == [
        ("Name", "string", 0), ("Class", "string", 0), ("Address", "string", 0), ("Programmed", "string", 0),
        ("Age", "date", 0), ("Listeners", "integer", 1), ("Hostnames", "string", 1)]
    assert defs[3]["description"] == ('Custom resource definition column (in JSONPath format): '
                                      '.status.conditions[?(@.type=="Programmed")].status')
    assert table["rows"][0]["cells"] == ["http", "enterprise-kgateway", "172.18.0.9", "True", "3m20s", None,
                                         '["a.example.com","b\\u003cx\\u003e"]']
    assert table["rows"][1]["cells"][2:4] == [None, None]


def test_crd_without_printer_columns_gets_age() -> None:
    crd = {"spec": {"group": "example.com", "names": {"kind": "Thing", "plural": "things"},
                    "versions": [{"name": "v1", "served": True, "storage": True}]}}
    t = REG.register_crd(crd)
    obj = {"metadata": {"name": "t1", "creationTimestamp": ago(45)}}
    table = to_table(t, [obj], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["t1", "45s"]


@pytest.mark.parametrize("include,expected", [
    ("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                  "metadata": {"name": "demo", "labels": {"a": "b"}}}),
    ("Object", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"a": "b"}}}),
    ("None", None),
])
def test_rows_carry_the_object_kubectl_asks_for(include: str, expected: dict | None) -> None:
    """``-A``/``--show-labels`` need metadata in each row; ``--sort-by`` needs the whole object."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"a": "b"}}}
    row = to_table(rtype("", "namespaces"), [ns], now=NOW, include_object=include)["rows"][0]
    assert row.get("object") == expected


def test_watch_tables_after_the_first_have_no_headers() -> None:
    table = to_table(rtype("", "namespaces"), [], now=NOW, with_headers=False)
    assert table == {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
                     "columnDefinitions": [], "rows": []}


def test_bad_include_object_is_rejected_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match='"None", "Metadata" or "Object"'):
        to_table(rtype("", "namespaces"), [], now=NOW, include_object="All")


# --- JSONPath helper ------------------------------------------------------------------------------

from ambient_lb.sim import jsonpath  # noqa: E402

DOC = {"status": {"conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "False"}],
                  "count": 3, "ratio": 2.0, "ok": True, "tags": {"b": 1, "a": "<x>"}}}


@pytest.mark.parametrize("expr,expected", [
    ('.status.conditions[?(@.type=="Programmed")].status', "False"),
    ('{.status.conditions[?(@.type=="Accepted")].status}', "True"),
    (".status.conditions[*].type", "Accepted"),
    (".status.conditions[1].type", "Programmed"),
    (".status.count", "3"),
    (".status.ratio", "2"),
    (".status.ok", "true"),
    (".status.tags", '{"a":"\\u003cx\\u003e","b":1}'),
])
def test_jsonpath_first_result_printed_like_kubectl(expr: str, expected: str) -> None:
    assert jsonpath.print_value(jsonpath.first(DOC, expr)) == expected


def test_jsonpath_missing_key_gives_nothing_and_bad_path_says_what_to_write() -> None:
    assert jsonpath.first(DOC, ".status.missing.deeper") is jsonpath.NOTHING
    with pytest.raises(jsonpath.JsonPathError, match=r"must start with '\.'"):
        jsonpath.first(DOC, "status.count")
    with pytest.raises(jsonpath.JsonPathError, match="could not be parsed"):
        jsonpath.first(DOC, ".status[?(")
