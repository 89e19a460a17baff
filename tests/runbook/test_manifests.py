"""manifests/: the guide's objects rendered from params, each with the run label."""

from __future__ import annotations

from ambient_lb import manifests
from ambient_lb.params import load_params


def by_kind(docs: list[dict]) -> dict[str, dict]:
    return {d["kind"]: d for d in docs}


def test_in_ambient_sample_matches_the_guide():
    docs = by_kind(manifests.render("in-ambient", load_params(None), "run-1"))
    assert docs["Namespace"]["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"
    assert docs["ServiceAccount"]["metadata"]["name"] == "in-ambient"
    assert docs["Service"]["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 8080}]
    pod = docs["Deployment"]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert "mccutchen/go-httpbin" in container["image"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/status/200", "port": 8080}
    assert pod["metadata"]["labels"][manifests.RUN_LABEL] == "run-1"


def test_every_rendered_object_carries_the_run_label():
    p = load_params(None)
    for name in manifests.TEMPLATES:
        for doc in manifests.render(name, p, "run-2"):
            assert doc["metadata"]["labels"][manifests.RUN_LABEL] == "run-2", (name, doc["kind"])


def test_destination_rule_adds_max_ejection_percent_only_when_set():
    od = lambda p: manifests.render("destinationrule", p, "r")[0]["spec"]["trafficPolicy"][  # noqa
        "outlierDetection"]
    assert od(load_params(None)) == {"consecutive5xxErrors": 5, "interval": "10s",
                                     "baseEjectionTime": "30s"}
    assert od(load_params(None, ["destination_rule.max_ejection_percent=100"]))[
        "maxEjectionPercent"] == 100


def test_gateway_and_route_follow_params():
    p = load_params(None, ["gateway.port=9090", "route.hostname=shop.example.com"])
    gw = manifests.render("gateway", p, "r")[0]
    assert gw["spec"]["listeners"][0]["port"] == 9090
    route = manifests.render("httproute", p, "r")[0]
    assert route["spec"]["hostnames"] == ["shop.example.com"]
    assert route["spec"]["parentRefs"] == [{"name": "http", "namespace": "kgateway-system"}]
