"""Selectors as clients meet them (R18): the real kubectl and the kubernetes client list with the
string syntax, get 400 for a selector the API server cannot parse, and 422 for a stored selector
that is not valid (an operator other than In/NotIn/Exists/DoesNotExist, an empty one, one that does
not select the template). The seeded pods in ``demo``: web-1 (app=web, tier=front), web-2 (app=web,
tier=back), api-1 (app=api)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.kubectl


def names(out: str) -> list[str]:
    return sorted(out.split())


def deployment(name: str, selector: Any, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "demo"},
            "spec": {"replicas": 1, "selector": selector,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}


def test_kubectl_get_with_set_based_selector_selects_either_value(kubectl):
    out = kubectl("get", "pods", "-n", "demo", "-l", "tier in (front,back)", "-o", "name").stdout
    assert names(out) == ["pod/web-1", "pod/web-2"]


def test_kubectl_get_with_notin_selects_pods_without_the_label_too(kubectl):
    out = kubectl("get", "pods", "-n", "demo", "-l", "tier notin (front)", "-o", "name").stdout
    assert names(out) == ["pod/api-1", "pod/web-2"]


def test_kubectl_get_with_negated_key_selects_pods_without_it(kubectl):
    assert names(kubectl("get", "pods", "-n", "demo", "-l", "!tier", "-o", "name").stdout) == ["pod/api-1"]


def test_kubectl_get_with_greater_than_compares_integer_label_values(kubectl, client):
    v1 = k8s.CoreV1Api(client)
    for name, rank in (("low", "1"), ("high", "3"), ("word", "x")):
        v1.create_namespaced_config_map("demo", {"metadata": {"name": f"rank-{name}", "labels": {"rank": rank}}})
    assert names(kubectl("get", "configmaps", "-n", "demo", "-l", "rank>2", "-o", "name").stdout) == \
        ["configmap/rank-high"]
    assert names(kubectl("get", "configmaps", "-n", "demo", "-l", "rank<2", "-o", "name").stdout) == \
        ["configmap/rank-low"]


def test_kubectl_get_with_unparseable_selector_is_a_bad_request_naming_what_was_expected(kubectl):
    r = kubectl("get", "pods", "-n", "demo", "-l", "app in web", ok=False)
    assert "Error from server (BadRequest)" in r.stderr
    assert "unable to parse requirement: found 'web' expected: '('" in r.stderr
    assert 'for example "app=web", "tier in (a,b)"' in r.stderr


def test_client_list_with_word_operator_gt_is_a_400(client):
    with pytest.raises(ApiException) as exc:
        k8s.CoreV1Api(client).list_namespaced_pod("demo", label_selector="rank gt 2")
    assert exc.value.status == 400
    body = json.loads(exc.value.body)
    assert body["reason"] == "BadRequest"
    assert "found 'gt', expected: in, notin, =, ==, !=, gt, lt" in body["message"]


def test_client_list_with_invalid_label_value_is_a_400(client):
    with pytest.raises(ApiException) as exc:
        k8s.CoreV1Api(client).list_namespaced_pod("demo", label_selector="app=we@b")
    assert exc.value.status == 400 and 'Invalid value: "we@b"' in json.loads(exc.value.body)["message"]


def test_kubectl_apply_of_deployment_with_operator_gt_is_refused_with_422(kubectl, client):
    dep = deployment("ranked", {"matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["2"]}]},
                     {"rank": "3"})
    r = kubectl("apply", "-f", "-", stdin=json.dumps(dep), ok=False)
    assert 'The Deployment "ranked" is invalid' in r.stderr
    assert 'spec.selector.matchExpressions[0].operator: Invalid value: "Gt": not a valid selector operator' \
        in r.stderr
    assert "invalid label selector" in r.stderr
    with pytest.raises(ApiException) as exc:
        k8s.AppsV1Api(client).read_namespaced_deployment("ranked", "demo")
    assert exc.value.status == 404  # nothing was stored


def test_client_create_of_deployment_with_empty_selector_is_a_422(client):
    with pytest.raises(ApiException) as exc:
        k8s.AppsV1Api(client).create_namespaced_deployment("demo", deployment("anything", {}, {"app": "x"}))
    assert exc.value.status == 422
    causes = json.loads(exc.value.body)["details"]["causes"]
    assert [(c["field"], c["message"].rsplit(": ", 1)[-1]) for c in causes] == [
        ("spec.selector", "empty selector is invalid for deployment")]


def test_deployment_whose_match_expressions_do_not_select_its_template_is_a_422(client):
    sel = {"matchLabels": {"app": "shop"},
           "matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}]}
    with pytest.raises(ApiException) as exc:
        k8s.AppsV1Api(client).create_namespaced_deployment(
            "demo", deployment("shop", sel, {"app": "shop", "track": "canary"}))
    assert exc.value.status == 422
    assert "`selector` does not match template `labels`" in json.loads(exc.value.body)["message"]


def test_scale_of_a_deployment_carries_its_whole_selector_as_a_string(client):
    apps = k8s.AppsV1Api(client)
    sel = {"matchLabels": {"app": "cart"},
           "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable", "canary"]}]}
    apps.create_namespaced_deployment("demo", deployment("cart", sel, {"app": "cart", "track": "stable"}))
    scale = apps.read_namespaced_deployment_scale("cart", "demo")
    assert scale.status.selector == "app=cart,track in (canary,stable)"


def test_clusterrole_aggregating_with_operator_lt_is_a_422(client):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "ranked"},
            "aggregationRule": {"clusterRoleSelectors": [
                {"matchExpressions": [{"key": "rank", "operator": "Lt", "values": ["2"]}]}]}}
    with pytest.raises(ApiException) as exc:
        k8s.RbacAuthorizationV1Api(client).create_cluster_role(role)
    assert exc.value.status == 422
    fields = [c["field"] for c in json.loads(exc.value.body)["details"]["causes"]]
    assert fields == ["aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator",
                      "aggregationRule.clusterRoleSelectors[0]"]


def test_kubectl_apply_of_pod_with_unknown_node_affinity_operator_is_refused_with_422(kubectl):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "picky", "namespace": "demo"},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}],
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": "topology.kubernetes.io/zone", "operator": "Like", "values": ["zone-a"]}]}]}}}}}
    r = kubectl("apply", "-f", "-", stdin=json.dumps(pod), ok=False)
    assert 'The Pod "picky" is invalid' in r.stderr
    assert ("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
            '.matchExpressions[0].operator: Invalid value: "Like": not a valid selector operator') in r.stderr
