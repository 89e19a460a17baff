"""Pure pieces of the mesh layer: chart stand-ins, the Gateway API manifest, go-httpbin and its faults,
listener addresses, route matching. No simulator needed."""

from __future__ import annotations

import base64
import json
import os

import pytest
import yaml

from ambient_lb.errors import ParameterError
from ambient_lb.sim.mesh import charts, gatewayapi
from ambient_lb.sim.mesh.app import (
    AppRequest,
    FaultError,
    PodFaults,
    answer,
    httpbin,
    parse_latency,
    parse_status_cycle,
)
from ambient_lb.sim.mesh.kgateway import license_problem
from ambient_lb.sim.mesh.listener import candidate_addresses
from ambient_lb.sim.mesh.routes import RouteEntry, match_route

VALUES = {"licensing": {"licenseKey": "s3cr3t-key"}, "controller": {"extraEnv": {"KGW_ENABLE_ISTIO_INTEGRATION": True}}}
OCI = "oci://us-docker.pkg.dev/solo-public/enterprise-kgateway/charts/"


def test_unknown_chart_is_a_parameter_error_naming_the_known_ones() -> None:
    with pytest.raises(ParameterError) as err:
        charts.render("x", OCI + "kgateway-nope", "2.2.0-rc.2", "kgateway-system", {})
    assert "kgateway-nope" in str(err.value) and "enterprise-kgateway-crds" in str(err.value)


def test_controller_chart_puts_the_license_only_in_the_secret_and_the_env_switch_on_the_deployment() -> None:
    out = charts.render("enterprise-kgateway", OCI + "enterprise-kgateway", "2.2.0-rc.2", "kgateway-system", VALUES)
    kinds = {(m["kind"], m["metadata"]["name"]) for m in out}
    assert ("GatewayClass", "enterprise-kgateway") in kinds and ("Deployment", "enterprise-kgateway") in kinds
    secret = next(m for m in out if m["kind"] == "Secret")
    assert base64.b64decode(secret["data"][charts.LICENSE_KEY_FIELD]).decode() == "s3cr3t-key"
    assert "s3cr3t-key" not in yaml.safe_dump_all([m for m in out if m["kind"] != "Secret"])
    dep = next(m for m in out if m["kind"] == "Deployment")
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "KGW_ENABLE_ISTIO_INTEGRATION", "value": "true"} in env
    assert dep["metadata"]["annotations"]["meta.helm.sh/release-name"] == "enterprise-kgateway"


def test_crds_chart_honours_the_install_switches() -> None:
    names = {m["metadata"]["name"] for m in charts.render(
        "enterprise-kgateway-crds", "enterprise-kgateway-crds", "2.2.0-rc.2", "kgateway-system",
        {"installExtAuthCRDs": "false", "installRateLimitCRDs": False})}
    assert "trafficpolicies.gateway.kgateway.dev" in names
    assert "authconfigs.extauth.solo.io" not in names and "ratelimitconfigs.ratelimit.solo.io" not in names
    with pytest.raises(ParameterError, match="installExtAuthCRDs"):
        charts.render("c", "enterprise-kgateway-crds", "2.2.0-rc.2", "kgateway-system", {"installExtAuthCRDs": "maybe"})


def test_gateway_api_manifest_file_is_what_the_generator_writes() -> None:
    assert gatewayapi.MANIFEST.read_text() == gatewayapi.standard_install_yaml()
    crds = {c["spec"]["names"]["kind"]: c for c in gatewayapi.load_standard_install()}
    cols = [c["name"] for c in crds["Gateway"]["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert cols == ["Class", "Address", "Programmed", "Age"]
    assert [c["name"] for c in crds["HTTPRoute"]["spec"]["versions"][0]["additionalPrinterColumns"]] == [
        "Hostnames", "Age"]
    assert crds["GatewayClass"]["spec"]["scope"] == "Cluster"


def test_license_problem_explains_an_empty_key() -> None:
    assert "licensing.licenseKey" in (license_problem("") or "")
    assert license_problem("abc def") is not None and license_problem("jwt.like.key") is None


def _req(path: str) -> AppRequest:
    return AppRequest("GET", path, {"host": "httpbin.example.com", "user-agent": "curl/8.7.1"}, "10.244.0.6",
                      "httpbin.example.com")


def test_go_httpbin_shapes() -> None:
    r = httpbin("in-ambient-abc", _req("/hostname"))
    assert (r.status, r.body) == (200, b'{\n  "hostname": "in-ambient-abc"\n}\n')
    assert json.loads(httpbin("p", _req("/headers")).body)["headers"]["User-Agent"] == ["curl/8.7.1"]
    assert json.loads(httpbin("p", _req("/get?a=1")).body)["args"] == {"a": ["1"]}
    assert (httpbin("p", _req("/status/418")).status, httpbin("p", _req("/status/418")).body) == (418, b"")
    assert httpbin("p", _req("/status/abc")).status == 400
    assert httpbin("p", _req("/nope")).body == b"404 page not found\n"


def test_http_status_fault_cycles_through_the_requests_the_pod_receives() -> None:
    faults = PodFaults.parse({"fault.ambient-lb.dev/http-status": "500,500,200"})
    assert [answer("p", faults, _req("/hostname")).status for _ in range(6)] == [500, 500, 200, 500, 500, 200]


def test_bad_fault_annotations_are_reported_with_an_example() -> None:
    with pytest.raises(FaultError, match="500,500,500,500,200"):
        parse_status_cycle("five hundred")
    with pytest.raises(FaultError, match="200ms"):
        parse_latency("fast")
    assert parse_latency("200ms") == pytest.approx(0.2) and parse_latency("1.5s") == 1.5
    faults = PodFaults.parse({"fault.ambient-lb.dev/http-status": "700"})
    assert faults.cycle == [] and "fault.ambient-lb.dev/http-status" in faults.problems[0]


def test_listener_addresses_are_seeded_loopback_addresses_then_127_0_0_1() -> None:
    addrs = candidate_addresses(7)
    assert addrs == candidate_addresses(7) and addrs != candidate_addresses(8)
    # another simulator process with the same seed tries other addresses first
    assert candidate_addresses(7, salt=1001)[:4] != addrs[:4]
    assert addrs[-1] == "127.0.0.1" and all(a.startswith("127.0.") for a in addrs)
    assert "127.0.0.1" not in addrs[:-1]


def test_route_match_prefers_exact_host_then_longest_path() -> None:
    a = RouteEntry(("ns", "a"), ["httpbin.example.com"], [("PathPrefix", "/")], [("ns", "a", 8000, 1)])
    b = RouteEntry(("ns", "b"), ["httpbin.example.com"], [("PathPrefix", "/status")], [("ns", "b", 8000, 1)])
    w = RouteEntry(("ns", "w"), ["*.example.com"], [("PathPrefix", "/")], [("ns", "w", 8000, 1)])
    assert match_route([a, b, w], "httpbin.example.com:8080", "/status/200") is b
    assert match_route([a, b, w], "httpbin.example.com", "/statusx") is a
    assert match_route([a, b, w], "other.example.com", "/") is w
    assert match_route([a, b, w], "example.org", "/") is None


def test_listener_skips_an_address_whose_port_is_taken_and_falls_back_to_a_free_port() -> None:
    """The first seed-derived address is busy on the port: the next one is used. A second port that
    is busy on the chosen address falls back to a free port there (reported by kgateway)."""
    import asyncio
    import socket

    from ambient_lb.sim.cluster import Cluster
    from ambient_lb.sim.mesh.listener import Listeners

    cluster = Cluster(seed=123)
    first = candidate_addresses(123, os.getpid())[0]
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((first, 0))
    port = blocker.getsockname()[1]
    blocker.listen(1)
    listeners = Listeners(cluster, lambda p, r: None)  # type: ignore[arg-type,return-value]
    try:
        assert listeners.ensure(port) == port and listeners.address == candidate_addresses(123, os.getpid())[1]
        other = socket.socket()
        other.bind((listeners.address, 0))
        other.listen(1)
        taken = other.getsockname()[1]
        assert listeners.ensure(taken) not in (taken, 0)
        other.close()
    finally:
        asyncio.run(listeners.stop())
        blocker.close()
