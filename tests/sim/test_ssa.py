"""Server-side apply and managedFields bookkeeping (research: kubernetes-api-surface §2.7, §8).

The cases are the ones where a "merge the config in" approximation visibly diverges from a real
apiserver: a field the manager stopped applying must go, an ordinary write (``kubectl scale``)
takes ownership so a later apply conflicts with the real message, ``force`` moves ownership, and
a field two managers set to the same value stays while either still applies it.
"""

from __future__ import annotations

import copy
import json

import pytest

from ambient_lb.sim.patch import ApplyConflict, PatchError, apply_merge_patch, record_update, server_side_apply

T0, T1, T2, T3 = (f"2025-01-01T00:0{i}:00Z" for i in range(4))


def deployment(env: list[dict] | None = None, replicas: int = 2, labels: dict | None = None) -> dict:
    container = {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}
    if env is not None:
        container["env"] = env
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "labels": labels or {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}}


def managers(obj: dict) -> dict[tuple[str, str], dict]:
    return {(m["manager"], m["operation"]): m["fieldsV1"] for m in obj["metadata"].get("managedFields", [])}


def env_of(obj: dict) -> list[dict] | None:
    return obj["spec"]["template"]["spec"]["containers"][0].get("env")


ENV_AB = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_apply_creates_object_with_apply_entry_in_fieldsv1_encoding() -> None:
    out = server_side_apply(None, deployment(ENV_AB[:1]), "kubectl", force=False, now=T0)
    entry = out["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"], e["apiVersion"], e["time"], e["fieldsType"]) for e in entry] == [
        ("kubectl", "Apply", "apps/v1", T0, "FieldsV1")]
    assert entry[0]["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {'k:{"name":"web"}': {
                ".": {}, "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                "f:image": {}, "f:name": {},
                "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}}}}}


def test_reapply_without_env_var_removes_it() -> None:
    """The research's failing case: a dropped env var must disappear (rule 2)."""
    live = server_side_apply(None, deployment(ENV_AB), "kubectl", force=False, now=T0)
    out = server_side_apply(live, deployment(ENV_AB[1:]), "kubectl", force=False, now=T1)
    assert env_of(out) == [{"name": "B", "value": "2"}]
    out = server_side_apply(out, deployment([]), "kubectl", force=False, now=T2)
    assert env_of(out) is None or env_of(out) == []


def test_reapply_without_label_removes_it_but_keeps_fields_of_other_writers() -> None:
    live = server_side_apply(None, deployment(labels={"app": "web", "tier": "x"}), "kubectl", force=False, now=T0)
    written = apply_merge_patch(live, {"status": {"replicas": 2}, "metadata": {"annotations": {"note": "hi"}}})
    live = record_update(live, written, "controller", "Update", T0)
    assert managers(live)[("controller", "Update")] == {
        "f:metadata": {"f:annotations": {".": {}, "f:note": {}}}, "f:status": {"f:replicas": {}}}
    out = server_side_apply(live, deployment(), "kubectl", force=False, now=T1)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert out["metadata"]["annotations"] == {"note": "hi"}
    assert out["status"] == {"replicas": 2}


def test_apply_after_scale_conflicts_with_the_real_message() -> None:
    live = server_side_apply(None, deployment(), "kubectl", force=False, now=T0)
    scaled = record_update(live, apply_merge_patch(live, {"spec": {"replicas": 3}}), "kubectl-scale", "Update", T1)
    assert managers(scaled)[("kubectl-scale", "Update")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in managers(scaled)[("kubectl", "Apply")]["f:spec"]
    with pytest.raises(ApplyConflict) as info:
        server_side_apply(scaled, deployment(replicas=2), "kubectl", force=False, now=T2)
    assert info.value.message == ('Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: '
                                  ".spec.replicas")
    assert info.value.conflicts == [("kubectl-scale", ".spec.replicas")]
    assert info.value.causes() == [{"reason": "FieldManagerConflict",
                                    "message": 'conflict with "kubectl-scale" using apps/v1',
                                    "field": ".spec.replicas"}]


def test_force_apply_takes_ownership_from_the_other_manager() -> None:
    live = server_side_apply(None, deployment(), "kubectl", force=False, now=T0)
    scaled = record_update(live, apply_merge_patch(live, {"spec": {"replicas": 3}}), "kubectl-scale", "Update", T1)
    out = server_side_apply(scaled, deployment(replicas=2), "kubectl", force=True, now=T2)
    assert out["spec"]["replicas"] == 2
    assert ("kubectl-scale", "Update") not in managers(out)
    assert "f:replicas" in managers(out)[("kubectl", "Apply")]["f:spec"]


def test_apply_of_the_same_value_shares_ownership_and_keeps_it_when_one_drops_it() -> None:
    """Two appliers set replicas=2: no conflict; when one stops applying it, the field stays."""
    a = server_side_apply(None, deployment(), "alice", force=False, now=T0)
    b = server_side_apply(a, {"apiVersion": "apps/v1", "kind": "Deployment",
                              "metadata": {"name": "web", "namespace": "demo"}, "spec": {"replicas": 2}},
                          "bob", force=False, now=T1)
    assert managers(b)[("bob", "Apply")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" in managers(b)[("alice", "Apply")]["f:spec"]
    without = deployment()
    del without["spec"]["replicas"]
    out = server_side_apply(b, without, "alice", force=False, now=T2)
    assert out["spec"]["replicas"] == 2
    out = server_side_apply(out, {"apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": {"name": "web", "namespace": "demo"}}, "bob", force=False, now=T3)
    assert "replicas" not in out["spec"]


def test_env_entries_are_owned_per_name_by_different_managers() -> None:
    live = server_side_apply(None, deployment(ENV_AB[:1]), "alice", force=False, now=T0)
    bob = deployment([{"name": "B", "value": "2"}])
    live = server_side_apply(live, bob, "bob", force=False, now=T1)
    assert env_of(live) == ENV_AB
    out = server_side_apply(live, deployment([]), "alice", force=False, now=T2)
    assert env_of(out) == [{"name": "B", "value": "2"}]


def test_several_conflicts_are_grouped_by_manager() -> None:
    live = server_side_apply(None, deployment(), "kubectl", force=False, now=T0)
    changed = apply_merge_patch(live, {"spec": {"replicas": 5}, "metadata": {"labels": {"app": "other"}}})
    changed = record_update(live, changed, "editor", "Update", T1)
    with pytest.raises(ApplyConflict) as info:
        server_side_apply(changed, deployment(), "kubectl", force=False, now=T2)
    assert info.value.message == ('Apply failed with 2 conflicts: conflicts with "editor" using apps/v1:\n'
                                  "- .metadata.labels.app\n- .spec.replicas")


def test_identical_reapply_changes_nothing_not_even_the_time() -> None:
    live = server_side_apply(None, deployment(ENV_AB), "kubectl", force=False, now=T0)
    again = server_side_apply(live, deployment(ENV_AB), "kubectl", force=False, now=T3)
    assert again == live


def test_apply_does_not_mutate_inputs() -> None:
    live = server_side_apply(None, deployment(ENV_AB), "kubectl", force=False, now=T0)
    applied = deployment()
    before_live, before_applied = copy.deepcopy(live), copy.deepcopy(applied)
    server_side_apply(live, applied, "kubectl", force=False, now=T1)
    assert (live, applied) == (before_live, before_applied)


def test_update_at_create_owns_maps_with_dot_entries() -> None:
    """An Update manager owns newly created maps and list items too (``.: {}``), as the apiserver records."""
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}},
          "data": {"k": "v"}}
    out = record_update(None, cm, "kubectl-create", "Update", T0)
    assert out["metadata"]["managedFields"] == [{
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}}]


def test_update_that_removes_a_field_removes_it_from_every_manager() -> None:
    live = server_side_apply(None, deployment(labels={"app": "web", "tier": "x"}), "kubectl", force=False, now=T0)
    new = apply_merge_patch(live, {"metadata": {"labels": {"tier": None}}})
    out = record_update(live, new, "kubectl-label", "Update", T1)
    assert managers(out)[("kubectl", "Apply")]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert ("kubectl-label", "Update") not in managers(out)


def test_managed_fields_set_by_the_writer_are_taken_and_empty_entry_resets() -> None:
    """Rule 5: kubectl's client-side to server-side apply migration rewrites managedFields."""
    live = record_update(None, deployment(), "kubectl-client-side-apply", "Update", T0)
    wanted = [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
               "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    moved = copy.deepcopy(live)
    moved["metadata"]["managedFields"] = wanted
    out = record_update(live, moved, "kubectl", "Update", T1)
    assert out["metadata"]["managedFields"] == wanted
    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = [{}]
    assert "managedFields" not in record_update(live, reset, "kubectl", "Update", T1)["metadata"]


def test_custom_resource_lists_are_atomic_and_conflict_as_a_whole() -> None:
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r", "namespace": "demo"}, "spec": {"hostnames": ["a.example.com"]}}
    live = server_side_apply(None, route, "kubectl", force=False, now=T0)
    assert managers(live)[("kubectl", "Apply")] == {"f:spec": {"f:hostnames": {}}}
    edited = record_update(live, apply_merge_patch(live, {"spec": {"hostnames": ["b.example.com"]}}),
                           "editor", "Update", T1)
    with pytest.raises(ApplyConflict) as info:
        server_side_apply(edited, route, "kubectl", force=False, now=T2)
    assert info.value.conflicts == [("editor", ".spec.hostnames")]


def test_conflict_on_a_keyed_item_prints_the_key() -> None:
    live = server_side_apply(None, deployment(), "kubectl", force=False, now=T0)
    edited = json.loads(json.dumps(live))
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    edited = record_update(live, edited, "editor", "Update", T1)
    with pytest.raises(ApplyConflict) as info:
        server_side_apply(edited, deployment(), "kubectl", force=False, now=T2)
    assert info.value.conflicts == [("editor", '.spec.template.spec.containers[name="web"].image')]


@pytest.mark.parametrize("applied,fragment", [
    ({"kind": "ConfigMap", "metadata": {"name": "x"}}, "apiVersion"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
    (["not", "an", "object"], "must be an object"),
])
def test_bad_applied_configuration_raises_patch_error(applied, fragment: str) -> None:
    with pytest.raises(PatchError) as info:
        server_side_apply(None, applied, "kubectl", force=False, now=T0)
    assert fragment in str(info.value)


@pytest.mark.parametrize("operation,subresource,printed", [
    ("Update", "scale", '"kubectl" with subresource "scale" using apps/v1'),
    ("Update", "", '"kubectl" using apps/v1'),
    ("Apply", "", '"kubectl"'),
])
def test_conflicting_manager_is_printed_as_the_apiserver_prints_it(operation: str, subresource: str,
                                                                     printed: str) -> None:
    """``kubectl scale`` writes through /scale with the User-Agent's manager ``kubectl``; a real cluster
    then answers ``conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas``.
    Appliers are printed without an apiVersion."""
    live = server_side_apply(None, deployment(), "helm", force=False, now=T0)
    scaled = apply_merge_patch(live, {"spec": {"replicas": 3}})
    if operation == "Apply":
        scaled = server_side_apply(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": {"name": "web", "namespace": "demo"}, "spec": {"replicas": 3}},
                                   "kubectl", force=True, now=T1)
    else:
        scaled = record_update(live, scaled, "kubectl", "Update", T1, subresource=subresource)
    with pytest.raises(ApplyConflict) as info:
        server_side_apply(scaled, deployment(), "helm", force=False, now=T2)
    assert info.value.message == f"Apply failed with 1 conflict: conflict with {printed}: .spec.replicas"
    entry = [m for m in scaled["metadata"]["managedFields"] if m["manager"] == "kubectl"][0]
    assert entry.get("subresource", "") == subresource


LISTENER_CRD = {"metadata": {"name": "gateways.gateway.networking.k8s.io", "uid": "u1", "resourceVersion": "1"},
                "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "gatewayClassName": {"type": "string"},
                        "listeners": {"type": "array", "x-kubernetes-list-type": "map",
                                      "x-kubernetes-list-map-keys": ["name"],
                                      "items": {"type": "object", "properties": {
                                          "name": {"type": "string"}, "port": {"type": "integer"}}}}}}}}}}]}}


def test_custom_resource_list_types_come_from_the_crd_schema() -> None:
    """Gateway ``spec.listeners`` is ``x-kubernetes-list-type: map`` keyed by name: owned per listener."""
    def gw(*listeners: tuple[str, int]) -> dict:
        return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"name": "http", "namespace": "demo"},
                "spec": {"listeners": [{"name": n, "port": p} for n, p in listeners]}}
    live = server_side_apply(None, gw(("http", 8080)), "alice", force=False, now=T0, crd=LISTENER_CRD)
    assert managers(live)[("alice", "Apply")] == {"f:spec": {"f:listeners": {
        'k:{"name":"http"}': {".": {}, "f:name": {}, "f:port": {}}}}}
    both = server_side_apply(live, gw(("https", 8443)), "bob", force=False, now=T1, crd=LISTENER_CRD)
    assert [x["name"] for x in both["spec"]["listeners"]] == ["http", "https"]
    out = server_side_apply(both, gw(), "alice", force=False, now=T2, crd=LISTENER_CRD)
    assert out["spec"]["listeners"] == [{"name": "https", "port": 8443}]


def test_kubectl_server_side_apply_upgrades_a_client_side_applied_object() -> None:
    """Rule 6: kubectl 1.31 applies before migrating managedFields; fields still equal to the
    last-applied annotation do not conflict for manager ``kubectl``, and the annotation follows."""
    created = deployment()
    created["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(deployment())}
    live = record_update(None, created, "kubectl-client-side-apply", "Update", T0)
    with pytest.raises(ApplyConflict):
        server_side_apply(live, deployment(replicas=4), "someone-else", force=False, now=T1)
    out = server_side_apply(live, deployment(replicas=4), "kubectl", force=False, now=T1)
    assert out["spec"]["replicas"] == 4
    assert json.loads(out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]) == \
        deployment(replicas=4)
    edited = record_update(live, apply_merge_patch(live, {"spec": {"replicas": 7}}), "editor", "Update", T1)
    with pytest.raises(ApplyConflict) as info:
        server_side_apply(edited, deployment(replicas=4), "kubectl", force=False, now=T2)
    assert info.value.conflicts == [("editor", ".spec.replicas")]


def test_update_entry_marks_env_list_but_not_containers_list_as_owned() -> None:
    """``containers`` has no omitempty in k8s.io/api, so it is never "added"; ``env`` is (``.: {}``)."""
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
         "spec": {"template": {"spec": {"containers": [
             {"name": "n", "image": "i", "env": [{"name": "A", "value": "1"}]}]}}}}
    fields = record_update(None, d, "kubectl-create", "Update", T0)["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields == {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"n"}': {
        ".": {}, "f:env": {".": {}, 'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
        "f:image": {}, "f:name": {}}}}}}}


def test_status_in_an_applied_manifest_is_ignored_for_kinds_with_a_status_subresource() -> None:
    """Rule 7: ``kubectl create --dry-run -o yaml`` manifests carry ``status: {}``; nobody owns it."""
    manifest = dict(deployment(), status={})
    live = server_side_apply(None, manifest, "kubectl", force=False, now=T0)
    assert "status" not in live and "f:status" not in managers(live)[("kubectl", "Apply")]
    live["status"] = {"replicas": 2}
    out = server_side_apply(live, deployment(), "kubectl", force=False, now=T1)
    assert out["status"] == {"replicas": 2}
