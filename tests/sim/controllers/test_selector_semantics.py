"""The controllers' view of selectors (R18), where the earlier copies disagreed: the scheduler's
required node affinity (an empty term selects no node; Gt/Lt compare integers), ClusterRole
aggregation (an empty selector aggregates every ClusterRole, one with an operator the API server
refuses aggregates none) and a Service whose selector is empty (no endpoints)."""

from __future__ import annotations

from typing import Any

from ambient_lb.sim.controllers.keys import DEPLOYMENTS, ENDPOINT_SLICES, SERVICES
from ambient_lb.sim.controllers.rbac import aggregated_rules
from ambient_lb.sim.controllers.scheduler import node_fits

from .conftest import Sim, deployment, service


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def pod(required: dict[str, Any] | None = None, **node_selector: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeSelector": node_selector}
    if required is not None:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": spec}


def test_pod_with_an_empty_affinity_term_fits_no_node():
    assert node_fits(pod({"nodeSelectorTerms": [{}]}), node("n1")) is False


def test_pod_affinity_terms_are_ored():
    req = {"nodeSelectorTerms": [{}, {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}
    assert node_fits(pod(req), node("n1", disk="ssd")) is True
    assert node_fits(pod(req), node("n2", disk="hdd")) is False


def test_pod_affinity_gt_picks_nodes_whose_label_is_a_larger_integer():
    req = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]}
    assert node_fits(pod(req), node("big", cores="8")) is True
    assert node_fits(pod(req), node("small", cores="2")) is False
    assert node_fits(pod(req), node("odd", cores="eight")) is False


def test_pod_without_node_selector_or_affinity_fits_a_ready_node():
    assert node_fits(pod(), node("n1")) is True
    assert node_fits(pod(disk="ssd"), node("n1", disk="hdd")) is False


def role(name: str, labels: dict[str, str], verbs: list[str], selectors: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": name, "labels": labels},
                           "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]}
    if selectors is not None:
        out["aggregationRule"] = {"clusterRoleSelectors": selectors}
    return out


def test_aggregation_with_an_empty_selector_takes_every_other_clusterroles_rules():
    agg = role("all", {}, [], [{}])
    roles = [agg, role("a", {"x": "1"}, ["get"]), role("b", {}, ["list"])]
    assert [r["verbs"] for r in aggregated_rules(agg, roles)] == [["get"], ["list"]]


def test_aggregation_with_an_operator_the_api_server_refuses_takes_nothing():
    agg = role("ranked", {}, [], [{"matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["1"]}]}])
    roles = [agg, role("a", {"rank": "5"}, ["get"])]
    assert aggregated_rules(agg, roles) == []


def test_service_with_an_empty_selector_gets_no_endpoint_slice(bare: Sim):
    bare.create(DEPLOYMENTS, deployment("web"))
    svc = service("web")
    svc["spec"]["selector"] = {}
    bare.create(SERVICES, svc)
    bare.advance(30)
    assert bare.pods("httpbin", app="web")  # the pods are there; the Service selects none of them
    assert bare.store.list(ENDPOINT_SLICES, "httpbin") == []
