"""``kubectl port-forward`` and the Python client's port-forward against the simulator: HTTP over
forwarded connections to an in-process handler and to a real listener, keep-alive and several
connections, ``deployment/<name>`` resolution, the connection-refused error, and kubectl's fallback
from the WebSocket tunnel to a direct SPDY upgrade."""

from __future__ import annotations

import http.client
import socket

import pytest
from aiohttp import web
from streams_helpers import open_websocket, port_forward, register, tcp_server

from ambient_lb.sim.cluster import PodPort
from ambient_lb.sim.server import streams
from ambient_lb.sim.store import GR

pytestmark = pytest.mark.kubectl


async def admin(method: str, path: str, query: dict, body: bytes) -> tuple[int, str, bytes]:
    """An Envoy-admin-like handler: echoes what it got."""
    return 200, "text/plain", f"{method} {path} {sorted(query.items())} {body.decode()}".encode()


async def big(method: str, path: str, query: dict, body: bytes) -> tuple[int, str, bytes]:
    """A 1 MiB answer: more than one SPDY frame and more than one WebSocket message."""
    return 200, "application/octet-stream", bytes(range(256)) * 4096


@pytest.fixture(scope="module", autouse=True)
def sockets(sim):
    register(sim, "web-1", ports={15000: PodPort(handler=admin, loopback_only=True), 15001: PodPort(handler=big)})


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pf-cache")


def get(conn: http.client.HTTPConnection, path: str, body: str | None = None) -> str:
    conn.request("POST" if body else "GET", path, body=body)
    resp = conn.getresponse()
    assert resp.status == 200
    return resp.read().decode()


def test_kubectl_port_forward_serves_several_requests_on_one_connection_and_several_connections(
        sim, cache_dir):
    with port_forward(sim, cache_dir, "pod/web-1", 15000) as fwd:
        conn = http.client.HTTPConnection("127.0.0.1", fwd.local[15000], timeout=20)
        assert get(conn, "/stats?filter=outlier") == "GET /stats [('filter', 'outlier')] "
        sock = conn.sock
        assert get(conn, "/clusters", body="x=1") == "POST /clusters [] x=1"
        assert get(conn, "/ready") == "GET /ready [] "
        assert conn.sock is sock  # keep-alive: the forwarded connection stayed open
        conn.close()
        fwd.wait_for_line("Handling connection for")
        for i in range(3):
            other = http.client.HTTPConnection("127.0.0.1", fwd.local[15000], timeout=20)
            assert get(other, f"/c{i}") == f"GET /c{i} [] "
            other.close()
            fwd.wait_for_line("Handling connection for")
        assert fwd.proc.poll() is None


@pytest.mark.parametrize("websockets", [True, False], ids=["tunnel", "spdy"])
def test_kubectl_port_forward_carries_a_large_response_whole(sim, cache_dir, websockets):
    sim.call(lambda: sim.cluster.extensions.__setitem__(streams.WEBSOCKETS, websockets))
    try:
        with port_forward(sim, cache_dir, "pod/web-1", 15001) as fwd:
            conn = http.client.HTTPConnection("127.0.0.1", fwd.local[15001], timeout=20)
            conn.request("GET", "/")
            assert conn.getresponse().read() == bytes(range(256)) * 4096
            conn.close()
    finally:
        sim.call(lambda: sim.cluster.extensions.pop(streams.WEBSOCKETS, None))


def test_kubectl_port_forward_reaches_a_real_listener_registered_as_an_address(sim, cache_dir):
    peers = []

    async def hello(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername")[1])
        return web.Response(text=f"hello from {request.path}")
    with tcp_server(sim, hello) as port:
        register(sim, "web-2", ports={8080: PodPort(address=("127.0.0.1", port))})
        with port_forward(sim, cache_dir, "pod/web-2", 8080) as fwd:
            conn = http.client.HTTPConnection("127.0.0.1", fwd.local[8080], timeout=20)
            assert get(conn, "/one") == "hello from /one"
            assert get(conn, "/two") == "hello from /two"
            conn.close()
    assert len(peers) == 2 and peers[0] == peers[1]  # both requests came over one pod connection


def test_kubectl_port_forward_resolves_a_deployment_to_one_of_its_pods(sim, cache_dir):
    def seed() -> None:
        st = sim.cluster.store
        st.create(GR("apps", "deployments"), {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"tier": "front"}},
                     "template": {"metadata": {"labels": {"tier": "front"}},
                                  "spec": {"containers": [{"name": "web", "image": "x:1"}]}}}})
    sim.call(seed)  # web-1 is the only pod labelled tier=front
    with port_forward(sim, cache_dir, "deployment/web", 15000) as fwd:
        conn = http.client.HTTPConnection("127.0.0.1", fwd.local[15000], timeout=20)
        assert get(conn, "/server_info") == "GET /server_info [] "
        conn.close()


def test_kubectl_port_forward_to_a_closed_port_prints_the_kubelets_error_and_ends(sim, cache_dir):
    """As on a cluster since kubectl 1.23 (R15.13): the error, then "lost connection to pod", exit 1."""
    with port_forward(sim, cache_dir, "pod/web-1", 9999) as fwd:
        with socket.create_connection(("127.0.0.1", fwd.local[9999]), timeout=20) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100) == b""  # closed without an answer
        assert fwd.proc.wait(30) == 1
        err = fwd.proc.stderr.read()  # type: ignore[union-attr]
    assert "an error occurred forwarding" in err and "-> 9999: error forwarding port 9999 to pod " in err
    assert ("failed to connect to localhost:9999 inside namespace" in err
            and "IPv4: dial tcp4 127.0.0.1:9999: connect: connection refused" in err)
    assert err.rstrip().endswith("error: lost connection to pod")


def test_kubectl_port_forward_falls_back_to_spdy_when_the_server_refuses_the_tunnel(
        sim, cache_dir, monkeypatch):
    served = []
    real = streams.pf.serve_spdy

    async def counting(srv, request, pod):
        served.append(pod["metadata"]["name"])
        return await real(srv, request, pod)
    monkeypatch.setattr(streams.pf, "serve_spdy", counting)
    sim.call(lambda: sim.cluster.extensions.__setitem__(streams.WEBSOCKETS, False))
    try:
        with port_forward(sim, cache_dir, "pod/web-1", 15000) as fwd:
            for _ in range(2):
                conn = http.client.HTTPConnection("127.0.0.1", fwd.local[15000], timeout=20)
                assert get(conn, "/stats") == "GET /stats [] "
                assert get(conn, "/stats", body="again") == "POST /stats [] again"
                conn.close()
    finally:
        sim.call(lambda: sim.cluster.extensions.pop(streams.WEBSOCKETS, None))
    assert served == ["web-1"]  # one SPDY session, two forwarded connections


def test_python_client_port_forward_connects_to_the_pods_port(client):
    from kubernetes import client as k8s
    from kubernetes.stream import portforward

    api = k8s.CoreV1Api(client)
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web-1", "demo", ports="15000,15001")
    got = {}
    for port in (15000, 15001):  # a port's socket ends only when every port is done: read by length
        sock = pf.socket(port)
        sock.settimeout(20)
        sock.sendall(b"GET /stats/prometheus HTTP/1.1\r\nHost: localhost\r\n\r\n")
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        got[port] = (resp.status, resp.read())
        sock.close()
    assert got[15000] == (200, b"GET /stats/prometheus [] ")
    assert got[15001] == (200, bytes(range(256)) * 4096)
    assert pf.error(15000) is None and pf.error(15001) is None


def test_python_client_port_forward_reports_a_closed_port_on_its_error_channel(client):
    from kubernetes import client as k8s
    from kubernetes.stream import portforward

    api = k8s.CoreV1Api(client)
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web-1", "demo", ports="9999")
    sock = pf.socket(9999)
    sock.settimeout(20)
    assert sock.recv(10) == b""
    error = pf.error(9999)
    assert error is not None and error.startswith("error forwarding port 9999 to pod ")
    assert error.endswith("IPv6 dial tcp6 [::1]:9999: connect: connection refused ")


def test_port_forward_into_a_pod_that_is_not_running_is_refused_by_the_kubelet(sim):
    import websocket

    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        open_websocket(sim, "/api/v1/namespaces/demo/pods/api-1/portforward?ports=80", ["v4.channel.k8s.io"])
    assert exc.value.status_code == 500
    assert exc.value.resp_body == b'pod not found ("api-1_demo")'


def test_port_forward_subresource_answers_raw_requests_with_the_api_servers_status(kubectl):
    base = "/api/v1/namespaces/demo/pods"
    r = kubectl("get", "--raw", f"{base}/nope/portforward?ports=80", ok=False)
    assert 'pods "nope" not found' in r.stderr
    r = kubectl("get", "--raw", f"{base}/web-1/portforward?ports=80", ok=False)
    assert "Upgrade request required" in r.stderr
