"""Streams and forwarding: ``logs -f`` follows new lines and ends when the pod goes, watches are
closed when the client disconnects, pods/proxy reaches the handler the data plane registered,
and deletecollection deletes what the selector matches. ``exec`` and ``port-forward`` have their own
files (test_exec_streams.py, test_port_forward_streams.py, test_spdy_framing.py)."""

from __future__ import annotations

import subprocess
import threading

import pytest

from ambient_lb.sim.store import GR

pytestmark = pytest.mark.kubectl


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "demo"},
            "spec": {"nodeName": "sim-node-1", "containers": [{"name": "c", "image": "x:1",
                                                               "ports": [{"containerPort": 15000}]}]},
            "status": {"phase": "Running"}}


def test_logs_follow_streams_new_lines_and_ends_when_the_pod_is_deleted(kubectl, sim):
    sim.call(lambda: sim.cluster.store.create(GR("", "pods"), _pod("follow")))
    sim.call(lambda: sim.cluster.logs.write("demo", "follow", "c", "hello 0"))
    argv = ["kubectl", "--kubeconfig", str(sim.kubeconfig), "logs", "-f", "follow", "-n", "demo"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got: list[str] = []
    arrived = [threading.Event(), threading.Event()]

    def reader() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            got.append(line.rstrip("\n"))
            arrived[min(len(got), 2) - 1].set()
    threading.Thread(target=reader, daemon=True).start()
    try:
        # the server follows the buffer before it sends what is there, so once the first line
        # arrived, a new line is streamed
        assert arrived[0].wait(20), got
        sim.call(lambda: sim.cluster.logs.write("demo", "follow", "c", "hello 1"))
        assert arrived[1].wait(20), got
        sim.call(lambda: sim.cluster.store.remove(GR("", "pods"), "demo", "follow"))
        assert proc.wait(20) == 0
    finally:
        proc.kill()
    assert got == ["hello 0", "hello 1"]


def test_watch_is_released_when_the_client_disconnects(kubectl, sim):
    hub = sim.cluster.extensions["api_server"].hub
    before = sim.call(hub.count)
    opened, closed = threading.Event(), threading.Event()

    def changed(n: int) -> None:
        (opened if n > before else closed).set()
    sim.call(lambda: hub.on_change.append(changed))
    argv = ["kubectl", "--kubeconfig", str(sim.kubeconfig), "get", "secrets", "-n", "demo", "-w"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert opened.wait(20)
        assert sim.call(hub.count) == before + 1
    finally:
        proc.kill()
        proc.wait(10)
    assert closed.wait(20)
    sim.call(lambda: hub.on_change.remove(changed))
    assert sim.call(hub.count) == before


def test_pod_proxy_reaches_the_registered_handler_or_answers_503(kubectl, sim):
    sim.call(lambda: sim.cluster.store.create(GR("", "pods"), _pod("admin")))

    async def handler(method: str, path: str, query: dict, body: bytes) -> tuple[int, str, bytes]:
        return 200, "text/plain", f"{method} {path} {query.get('filter', '')}".encode()
    from ambient_lb.sim.cluster import PodPort
    sim.call(lambda: sim.cluster.pod_ports.setdefault(("demo", "admin"), {}).update({15000: PodPort(handler=handler)}))
    out = kubectl("get", "--raw", "/api/v1/namespaces/demo/pods/admin:15000/proxy/stats?filter=outlier").stdout
    assert out == "GET /stats outlier"
    r = kubectl("get", "--raw", "/api/v1/namespaces/demo/pods/admin:9999/proxy/", ok=False)
    assert "ServiceUnavailable" in r.stderr or "connection refused" in r.stderr


def test_delete_collection_removes_only_matching_objects(client):
    from kubernetes import client as k8s
    v1 = k8s.CoreV1Api(client)
    for n, lab in (("c1", "x"), ("c2", "x"), ("c3", "y")):
        v1.create_namespaced_config_map("demo", {"metadata": {"name": n, "labels": {"grp": lab}}})
    v1.delete_collection_namespaced_config_map("demo", label_selector="grp=x")
    left = {c.metadata.name for c in v1.list_namespaced_config_map("demo", label_selector="grp").items}
    assert left == {"c3"}

