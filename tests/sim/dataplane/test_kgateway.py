"""The enterprise-kgateway controller as kubectl sees it: Gateway and HTTPRoute status with real reasons,
the LoadBalancer Service's address, the license check, and the Istio integration switch (R1.4b, R8.1c)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml
from dataplane_helpers import GATEWAY, HERE, ROUTE, Guide

from ambient_lb.logs import parse_ztunnel
from ambient_lb.sim.mesh import charts
from ambient_lb.sim.mesh.gatewayapi import MANIFEST
from ambient_lb.sim.process import Simulator, running_simulator

pytestmark = pytest.mark.slow  # a simulator with the whole data plane per test or module: seconds per test

SCOPED_GATEWAY = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: scoped, namespace: kgateway-system}
spec:
  gatewayClassName: enterprise-kgateway
  listeners:
  - {name: web, port: 8081, protocol: HTTP, hostname: "*.internal.example", allowedRoutes: {namespaces: {from: Same}}}
"""


def _route(name: str, ns: str, gateway: str, host: str, backend: str) -> str:
    return yaml.safe_dump({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                           "metadata": {"name": name, "namespace": ns},
                           "spec": {"parentRefs": [{"name": gateway, "namespace": "kgateway-system"}],
                                    "hostnames": [host],
                                    "rules": [{"backendRefs": [{"name": backend, "port": 8000}]}]}})


def _conditions(guide: Guide, ns: str, route: str) -> dict[str, str]:
    guide.kubectl("wait", "-n", ns, f"httproute/{route}", "--for=jsonpath={.status.parents[0].controllerName}"
                  "=solo.io/enterprise-kgateway", "--timeout=30s")
    obj = json.loads(guide.kubectl("get", "httproute", "-n", ns, route, "-o", "json"))
    return {c["type"]: c["reason"] for c in obj["status"]["parents"][0]["conditions"]}


def test_gateway_is_programmed_with_the_listener_address(guide: Guide) -> None:
    """The Gateway's Programmed condition carries observedGeneration; its address is the listener's
    loopback address, which the LoadBalancer Service reports and which answers HTTP."""
    gw = json.loads(guide.kubectl("get", "gateway", "-n", "kgateway-system", "http", "-o", "json"))
    cond = {c["type"]: c for c in gw["status"]["conditions"]}
    assert cond["Programmed"]["status"] == "True"
    assert cond["Programmed"]["observedGeneration"] == gw["metadata"]["generation"]
    assert gw["status"]["addresses"] == [{"type": "IPAddress", "value": guide.address}]
    assert gw["status"]["listeners"][0]["attachedRoutes"] == 1
    svc = json.loads(guide.kubectl("get", "svc", "-n", "kgateway-system", "http", "-o", "json"))
    assert svc["spec"]["type"] == "LoadBalancer" and [p["port"] for p in svc["spec"]["ports"]] == [8080]
    assert guide.address.startswith("127.") and guide.address != "127.0.0.1"
    assert guide.request()[0] == 200
    table = guide.kubectl("get", "gateway", "-n", "kgateway-system", "http")
    assert table.split("\n")[0].split() == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"]
    assert table.split("\n")[1].split()[:4] == ["http", "enterprise-kgateway", guide.address, "True"]


def test_httproute_status_reports_real_reasons(guide: Guide) -> None:
    """Gateway API reasons: a missing backend → ResolvedRefs False BackendNotFound; a route from another
    namespace on a listener allowing Same → NotAllowedByListeners; a hostname outside the listener's →
    NoMatchingListenerHostname."""
    guide.apply(SCOPED_GATEWAY)
    guide.apply(_route("missing", "httpbin", "http", "httpbin.example.com", "no-such-service"))
    assert _conditions(guide, "httpbin", "missing") == {"Accepted": "Accepted", "ResolvedRefs": "BackendNotFound"}
    guide.apply(_route("foreign", "httpbin", "scoped", "a.internal.example", "in-ambient"))
    assert _conditions(guide, "httpbin", "foreign")["Accepted"] == "NotAllowedByListeners"
    guide.kubectl("create", "service", "clusterip", "local", "-n", "kgateway-system", "--tcp=8000:8080")
    guide.apply(_route("elsewhere", "kgateway-system", "scoped", "www.example.com", "local"))
    assert _conditions(guide, "kgateway-system", "elsewhere")["Accepted"] == "NoMatchingListenerHostname"
    assert _conditions(guide, "httpbin", "in-ambient") == {"Accepted": "Accepted", "ResolvedRefs": "ResolvedRefs"}


def _install_controller(guide: Guide, values: dict) -> None:
    guide.kubectl("apply", "-f", str(MANIFEST))
    guide.kubectl("create", "namespace", "kgateway-system")
    for chart in ("enterprise-kgateway-crds", "enterprise-kgateway"):
        guide.apply(yaml.safe_dump_all(charts.render(chart, chart, "2.2.0-rc.2", "kgateway-system", values)))


@pytest.fixture
def bare_sim() -> Iterator[Simulator]:
    with running_simulator(seed=9, speed=20.0) as sim:
        yield sim


def test_missing_license_keeps_the_controller_unready_and_says_why(bare_sim: Simulator) -> None:
    """No licensing.licenseKey: the controller pod stays Running but not Ready, its log says why, and
    Gateways are not programmed; setting the key makes it Ready."""
    guide = Guide(bare_sim)
    _install_controller(guide, {"controller": {"extraEnv": {"KGW_ENABLE_ISTIO_INTEGRATION": True}}})
    pod = guide.pod_names("kgateway-system", "app=enterprise-kgateway")[0]
    guide.kubectl("wait", "-n", "kgateway-system", f"pod/{pod}", "--for=jsonpath={.status.phase}=Running",
                  "--timeout=60s")
    log = guide.kubectl("logs", "-n", "kgateway-system", pod)
    assert "license check failed: no license key" in log
    guide.apply(GATEWAY)
    ready = guide.kubectl("get", "pod", "-n", "kgateway-system", pod,
                          "-o=jsonpath={.status.conditions[?(@.type=='Ready')].status}")
    assert ready == "False"
    cond = '.status.conditions[?(@.type=="Programmed")]'  # R16.30: as the CRD defaults it, untouched
    assert guide.kubectl("get", "gateway", "-n", "kgateway-system", "http", "-o",
                         f"jsonpath={{{cond}.status}}/{{{cond}.reason}}") == "Unknown/Pending"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": charts.LICENSE_SECRET,
                                                                "namespace": "kgateway-system"},
              "stringData": {charts.LICENSE_KEY_FIELD: "a-valid-looking-key"}}
    guide.apply(yaml.safe_dump(secret))
    guide.kubectl("wait", "-n", "kgateway-system", f"pod/{pod}", "--for=condition=Ready", "--timeout=60s")
    guide.kubectl("wait", "-n", "kgateway-system", "gateway/http", "--for=condition=Programmed", "--timeout=60s")


def test_without_istio_integration_the_gateway_sends_plaintext_and_never_collapses(bare_sim: Simulator) -> None:
    """KGW_ENABLE_ISTIO_INTEGRATION unset: traffic from the gateway is not captured (no source identity
    at the destination ztunnel), and ingress-use-waypoint has no effect (R8.1c, R1.4b)."""
    guide = Guide(bare_sim)
    _install_controller(guide, {"licensing": {"licenseKey": "sim-license-key"}})
    guide.kubectl("label", "ns", "kgateway-system", "istio.io/dataplane-mode=ambient")
    guide.apply(GATEWAY)
    guide.kubectl("wait", "-n", "kgateway-system", "gateway/http", "--for=condition=Programmed", "--timeout=60s")
    guide.kubectl("apply", "-f", str(HERE / "in-ambient.yaml"))
    guide.kubectl("rollout", "status", "deployment/in-ambient", "-n", "httpbin", "--timeout=60s")
    guide.kubectl("rollout", "status", "deployment/http", "-n", "kgateway-system", "--timeout=60s")
    guide.apply(ROUTE)
    guide.address = guide.kubectl("get", "svc", "-n", "kgateway-system", "http",
                                  "-o=jsonpath={.status.loadBalancer.ingress[0].ip}")
    guide.add_waypoint()
    pod = guide.hostnames(1)[0]
    node = json.loads(guide.kubectl("get", "pod", "-n", "httpbin", pod, "-o", "json"))["spec"]["nodeName"]
    zt_pod = next(p["metadata"]["name"] for p in guide.pods("istio-system", "app=ztunnel")
                  if p["spec"]["nodeName"] == node)
    zt = parse_ztunnel(guide.kubectl("logs", "-n", "istio-system", zt_pod))
    row = zt[(zt["dst.workload"] == pod) & (zt["target"] == "access")].iloc[-1]
    assert row["src.workload"] == guide.gateway_pod()
    assert "src.identity" not in zt.columns or str(row["src.identity"]) in ("nan", "None", "<NA>")
    assert guide.kubectl("logs", "-n", "httpbin", "deploy/httpbin-waypoint").strip() == ""


def test_guide_cleanup_removes_the_proxies_and_closes_the_listener(guide: Guide) -> None:
    """The guide's cleanup: deleting the Gateways removes their Deployments and Services (owner
    references) and the listener stops accepting connections."""
    guide.add_waypoint()
    assert guide.request()[0] == 200
    guide.kubectl("delete", "gateway", "httpbin-waypoint", "-n", "httpbin")
    guide.kubectl("delete", "gateway", "http", "-n", "kgateway-system")
    guide.kubectl("wait", "--for=delete", "deploy/http", "-n", "kgateway-system", "--timeout=30s")
    guide.kubectl("wait", "--for=delete", "deploy/httpbin-waypoint", "-n", "httpbin", "--timeout=30s")
    assert guide.kubectl("get", "svc", "-n", "kgateway-system", "http", "--ignore-not-found") == ""
    with pytest.raises(ConnectionRefusedError):
        guide.request()
