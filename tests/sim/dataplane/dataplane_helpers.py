"""Helpers for the data-plane tests: the guide's steps through the real kubectl, real HTTP to the listener.

``guide`` is the guide carried out up to the end of step 2 (Gateway API CRDs, both chart stand-ins,
the ambient label on kgateway-system, Gateway ``http``, the in-ambient sample scaled to 3, the
HTTPRoute). Tests then do what the rule needs through kubectl and curl-like requests. The
simulator runs at a high ``--speed`` so simulated seconds (ejections, sweeps) pass quickly.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ambient_lb.sim.mesh import charts
from ambient_lb.sim.mesh.gatewayapi import MANIFEST
from ambient_lb.sim.process import Simulator

HERE = Path(__file__).parent
KUBECTL = shutil.which("kubectl")
HOST = "httpbin.example.com"
SPEED = 20.0

GATEWAY = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: http, namespace: kgateway-system}
spec:
  gatewayClassName: enterprise-kgateway
  listeners:
  - {name: http, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
"""
ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: in-ambient, namespace: httpbin}
spec:
  parentRefs: [{name: http, namespace: kgateway-system}]
  hostnames: ["httpbin.example.com"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: in-ambient, port: 8000}]
"""
WAYPOINT = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: httpbin-waypoint, namespace: httpbin}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: Same}}}]
"""
# R13.5, R13.6: the waypoint's Envoy keeps its outlier stats only if its Gateway asks for them
OUTLIER_STATS_ANNOTATION = """  annotations:
    proxy.istio.io/config: |
      proxyStatsMatcher:
        inclusionRegexps: [".*outlier_detection.*"]
"""
WAYPOINT_WITH_OUTLIER_STATS = WAYPOINT.replace(
    "metadata: {name: httpbin-waypoint, namespace: httpbin}\n",
    "metadata:\n  name: httpbin-waypoint\n  namespace: httpbin\n" + OUTLIER_STATS_ANNOTATION)


def destination_rule(lb: str | None = "ROUND_ROBIN", **outlier: Any) -> str:
    policy: dict[str, Any] = {}
    if lb:
        policy["loadBalancer"] = {"simple": lb}
    if outlier:
        policy["outlierDetection"] = outlier
    return yaml.safe_dump({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                           "metadata": {"name": "in-ambient-failover", "namespace": "httpbin"},
                           "spec": {"host": "in-ambient", "trafficPolicy": policy}})


class Guide:
    """kubectl and HTTP against one simulator, with the guide's steps as methods."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.address = ""

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        assert KUBECTL, "kubectl is not on PATH"
        r = subprocess.run([KUBECTL, "--kubeconfig", str(self.sim.kubeconfig), *args], input=input,
                           capture_output=True, text=True, timeout=90)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r.stdout

    def apply(self, text: str) -> str:
        return self.kubectl("apply", "-f", "-", input=text)

    def synced(self, timeout: float = 30.0) -> None:
        """Wait until istiod has pushed everything stored so far to the proxies (R6.4)."""
        done = threading.Event()
        cluster = self.sim.cluster
        rv = cluster.store.resource_version
        self.sim.loop.call_soon_threadsafe(cluster.extensions["istiod"].when_pushed, rv, done.set)
        assert done.wait(timeout), "istiod did not push within the timeout"

    def install(self, license_key: str = "sim-license-key") -> None:
        """Steps 1–2 in as few kubectl calls as possible: CRDs, then everything else in one apply."""
        values = {"licensing": {"licenseKey": license_key},
                  "controller": {"extraEnv": {"KGW_ENABLE_ISTIO_INTEGRATION": True}}}
        crds = charts.render("enterprise-kgateway-crds", "enterprise-kgateway-crds", "2.2.0-rc.2",
                             "kgateway-system", values)
        self.apply(MANIFEST.read_text() + "\n---\n" + yaml.safe_dump_all(crds))
        app = [d for d in yaml.safe_load_all((HERE / "in-ambient.yaml").read_text()) if d]
        for d in app:
            if d["kind"] == "Deployment":
                d["spec"]["replicas"] = 3
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "kgateway-system", "labels": {"istio.io/dataplane-mode": "ambient"}}}
        controller = charts.render("enterprise-kgateway", "enterprise-kgateway", "2.2.0-rc.2", "kgateway-system",
                                   values)
        self.apply("\n---\n".join([yaml.safe_dump_all([ns, *controller]), GATEWAY, yaml.safe_dump_all(app), ROUTE]))
        self.kubectl("wait", "-n", "kgateway-system", "gateway/http", "--for=condition=Programmed", "--timeout=60s")
        self.kubectl("rollout", "status", "deployment/in-ambient", "-n", "httpbin", "--timeout=60s")
        self.kubectl("rollout", "status", "deployment/http", "-n", "kgateway-system", "--timeout=60s")
        self.address = self.kubectl("get", "svc", "-n", "kgateway-system", "http",
                                    "-o=jsonpath={.status.loadBalancer.ingress[0]['hostname','ip']}")
        self.synced()

    def add_waypoint(self, bind: bool = True, outlier_stats: bool = False) -> None:
        self.apply(WAYPOINT_WITH_OUTLIER_STATS if outlier_stats else WAYPOINT)
        self.kubectl("rollout", "status", "deployment/httpbin-waypoint", "-n", "httpbin", "--timeout=60s")
        self.kubectl("label", "service", "in-ambient", "-n", "httpbin", "istio.io/ingress-use-waypoint=true")
        if bind:
            self.kubectl("label", "service", "in-ambient", "-n", "httpbin", "istio.io/use-waypoint=httpbin-waypoint")
        self.synced()

    def request(self, path: str = "/hostname", host: str = HOST) -> tuple[int, dict[str, str], bytes]:
        """One request like ``curl -s -H "Host: …" http://$KGATEWAY_IP:8080<path>`` (a new connection)."""
        conn = http.client.HTTPConnection(self.address, 8080, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": host, "User-Agent": "curl/8.7.1"})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def hostnames(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            status, _, body = self.request()
            out.append(json.loads(body)["hostname"] if status == 200 else str(status))
        return out

    def pods(self, ns: str = "httpbin", selector: str = "app=in-ambient") -> list[dict[str, Any]]:
        return json.loads(self.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json"))["items"]

    def pod_names(self, ns: str = "httpbin", selector: str = "app=in-ambient") -> list[str]:
        return sorted(p["metadata"]["name"] for p in self.pods(ns, selector))

    def admin(self, ns: str, pod: str, path: str) -> str:
        """The pod's Envoy admin as a learner reads it on a cluster (R13.1, R13.2, R13.7): pilot-agent
        in the waypoint, wget to 127.0.0.1:19000 in kgateway's proxy."""
        if ns == "kgateway-system":
            return self.kubectl("exec", "-n", ns, pod, "--", "wget", "-qO-", f"http://127.0.0.1:19000/{path}")
        return self.kubectl("exec", "-n", ns, pod, "-c", "istio-proxy", "--", "pilot-agent", "request", "GET", path)

    def stats(self, ns: str, pod: str) -> dict[str, int]:
        out = {}
        for line in self.admin(ns, pod, "stats").splitlines():
            if line:  # pilot-agent ends with fmt.Println's extra newline
                k, _, v = line.partition(": ")
                out[k] = int(v)
        return out

    @contextlib.contextmanager
    def port_forward(self, ns: str, target: str, port: int) -> Iterator[int]:
        """``kubectl port-forward -n <ns> <target> :<port>``; yields the local port."""
        assert KUBECTL, "kubectl is not on PATH"
        proc = subprocess.Popen([KUBECTL, "--kubeconfig", str(self.sim.kubeconfig), "port-forward", "-n", ns, target,
                                 f":{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""  # Forwarding from 127.0.0.1:NNNNN -> port
            match = re.search(r"127\.0\.0\.1:(\d+) -> ", line)
            assert match, f"kubectl port-forward failed: {line}{proc.stderr.read() if proc.stderr else ''}"
            yield int(match.group(1))
        finally:
            proc.terminate()
            proc.wait(10)

    def waypoint_pod(self) -> str:
        return self.pod_names("httpbin", "gateway.networking.k8s.io/gateway-name=httpbin-waypoint")[0]

    def gateway_pod(self) -> str:
        return self.pod_names("kgateway-system", "gateway.networking.k8s.io/gateway-name=http")[0]


