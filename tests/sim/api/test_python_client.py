"""The kubernetes Python client against the simulator: list, read, create, patch (SMP and JSON
patch), delete, logs, custom objects, and ``watch.Watch().stream`` ending on ``timeout_seconds``."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException


def test_list_namespaced_pods_with_label_selector(client):
    pods = k8s.CoreV1Api(client).list_namespaced_pod("demo", label_selector="app=web")
    assert [p.metadata.name for p in pods.items] == ["web-1", "web-2"]
    assert int(pods.metadata.resource_version) > 0


def test_list_pods_for_all_namespaces_with_field_selector(client):
    pods = k8s.CoreV1Api(client).list_pod_for_all_namespaces(field_selector="status.phase=Pending")
    assert [(p.metadata.namespace, p.metadata.name) for p in pods.items] == [("demo", "api-1")]


def test_read_pod_deserializes_into_the_typed_model(client):
    pod = k8s.CoreV1Api(client).read_namespaced_pod("web-1", "demo")
    assert pod.spec.containers[0].name == "web"
    assert pod.status.conditions[0].type == "Ready"


def test_created_pod_comes_back_defaulted_and_pending(client):
    pod = k8s.CoreV1Api(client).create_namespaced_pod("demo", {
        "metadata": {"name": "fresh"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    c = pod.spec.containers[0]
    assert (c.termination_message_path, c.image_pull_policy) == ("/dev/termination-log", "Always")
    assert pod.spec.restart_policy == "Always" and pod.spec.termination_grace_period_seconds == 30
    assert pod.status.phase == "Pending"
    k8s.CoreV1Api(client).delete_namespaced_pod("fresh", "demo")  # unscheduled: gone at once
    names = [p.metadata.name for p in k8s.CoreV1Api(client).list_namespaced_pod("demo").items]
    assert "fresh" not in names


def test_read_missing_pod_raises_404_with_status_body(client):
    with pytest.raises(ApiException) as exc:
        k8s.CoreV1Api(client).read_namespaced_pod("nope", "demo")
    assert exc.value.status == 404 and exc.value.reason
    assert '"reason":"NotFound"' in exc.value.body


def test_create_patch_with_dict_and_list_then_delete_configmap(client):
    v1 = k8s.CoreV1Api(client)
    v1.create_namespaced_config_map("demo", {"metadata": {"name": "py"}, "data": {"a": "1"}})
    v1.patch_namespaced_config_map("py", "demo", {"data": {"b": "2"}})  # dict: strategic merge
    v1.patch_namespaced_config_map("py", "demo", [{"op": "remove", "path": "/data/a"}])  # list: JSON patch
    assert v1.read_namespaced_config_map("py", "demo").data == {"b": "2"}
    v1.delete_namespaced_config_map("py", "demo")
    with pytest.raises(ApiException) as exc:
        v1.read_namespaced_config_map("py", "demo")
    assert exc.value.status == 404


def test_deployment_patch_and_scale_subresource(client):
    apps = k8s.AppsV1Api(client)
    apps.create_namespaced_deployment("demo", {
        "metadata": {"name": "pyd"}, "spec": {"selector": {"matchLabels": {"app": "pyd"}}, "template": {
            "metadata": {"labels": {"app": "pyd"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    apps.patch_namespaced_deployment_scale("pyd", "demo", {"spec": {"replicas": 3}})
    d = apps.read_namespaced_deployment("pyd", "demo")
    assert d.spec.replicas == 3 and d.spec.strategy.type == "RollingUpdate"
    scale = apps.read_namespaced_deployment_scale("pyd", "demo")
    assert scale.spec.replicas == 3 and scale.status.selector == "app=pyd"


def test_pod_log_with_tail_lines(client):
    text = k8s.CoreV1Api(client).read_namespaced_pod_log("web-1", "demo", container="web", tail_lines=2)
    assert text.splitlines() == ["line 1", "line 2"]


def test_custom_objects_create_list_patch_delete(client, kubectl):
    from test_kubectl_crds import CRD  # the same Widget CRD the kubectl tests use
    kubectl("apply", "-f", "-", stdin=CRD)
    co = k8s.CustomObjectsApi(client)
    co.create_namespaced_custom_object("example.com", "v1", "demo", "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "pyw"}, "spec": {"size": 1}})
    co.patch_namespaced_custom_object("example.com", "v1", "demo", "widgets", "pyw", {"spec": {"size": 9}})
    items = co.list_namespaced_custom_object("example.com", "v1", "demo", "widgets")["items"]
    assert {i["metadata"]["name"]: i["spec"]["size"] for i in items}["pyw"] == 9
    co.delete_namespaced_custom_object("example.com", "v1", "demo", "widgets", "pyw")
    widgets = co.list_namespaced_custom_object("example.com", "v1", "demo", "widgets")["items"]
    names = [i["metadata"]["name"] for i in widgets]
    assert "pyw" not in names


def test_watch_stream_sees_synthetic_and_live_added_then_ends_on_timeout_seconds(client):
    v1 = k8s.CoreV1Api(client)
    v1.create_namespace({"metadata": {"name": "pywatch"}})
    v1.create_namespaced_config_map("pywatch", {"metadata": {"name": "w1"}})
    first = threading.Event()

    def make() -> None:
        if first.wait(10):
            v1.create_namespaced_config_map("pywatch", {"metadata": {"name": "w2"}})
    threading.Thread(target=make, daemon=True).start()
    seen = []
    for ev in watch.Watch().stream(v1.list_namespaced_config_map, "pywatch", timeout_seconds=2):
        seen.append((ev["type"], ev["object"].metadata.name))
        first.set()
    assert seen == [("ADDED", "w1"), ("ADDED", "w2")]  # and the loop ended: timeoutSeconds honoured


def test_delete_namespace_returns_terminating_namespace(client):
    v1 = k8s.CoreV1Api(client)
    v1.create_namespace({"metadata": {"name": "doomed"}})
    v1.delete_namespace("doomed")
    ns = v1.read_namespace("doomed")
    assert ns.status.phase == "Terminating" and ns.metadata.deletion_timestamp is not None


def test_dynamic_client_uses_legacy_discovery_and_server_side_apply(client, tmp_path, monkeypatch):
    from kubernetes.dynamic import DynamicClient
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # its discovery cache file goes stale across servers
    dyn = DynamicClient(client, cache_file=str(tmp_path / "discovery.json"))
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn", "namespace": "demo"},
            "data": {"k": "v"}}
    cms.server_side_apply(body=body, field_manager="dyn-test", namespace="demo")
    got = cms.get(name="dyn", namespace="demo")
    assert got.data.k == "v"
    assert [m.manager for m in got.metadata.managedFields] == ["dyn-test"]
    deploys = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deploys.namespaced and "scale" in [s for s in deploys.subresources]
