"""JSON patch, merge patch and strategic merge patch, checked against exact expected objects.

The SMP cases are the patches kubectl's client-side ``apply`` sends (research:
kubernetes-api-surface §2.7, §3.2): 3-way patches with ``$setElementOrder``, ``$patch: delete``
items, ``$retainKeys`` and ``$deleteFromPrimitiveList``.
"""

from __future__ import annotations

import copy

import pytest

from ambient_lb.sim.patch import (
    PatchError,
    UnsupportedPatch,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)

DEPLOY = ("apps", "Deployment")

# --- RFC 6902 -----------------------------------------------------------------------------------

DOC = {"metadata": {"name": "web", "labels": {"app": "web", "a/b": "x", "t~": "y"}},
       "spec": {"replicas": 1, "list": [1, 2, 3]}}

JSON_PATCH_CASES = [
    ("add_field", [{"op": "add", "path": "/spec/paused", "value": True}],
     {"replicas": 1, "list": [1, 2, 3], "paused": True}),
    ("add_appends_with_dash", [{"op": "add", "path": "/spec/list/-", "value": 4}],
     {"replicas": 1, "list": [1, 2, 3, 4]}),
    ("add_inserts_at_index", [{"op": "add", "path": "/spec/list/1", "value": 9}],
     {"replicas": 1, "list": [1, 9, 2, 3]}),
    ("remove_item", [{"op": "remove", "path": "/spec/list/0"}], {"replicas": 1, "list": [2, 3]}),
    ("replace_value", [{"op": "replace", "path": "/spec/replicas", "value": 3}],
     {"replicas": 3, "list": [1, 2, 3]}),
    ("move_field", [{"op": "move", "from": "/spec/replicas", "path": "/spec/count"}],
     {"list": [1, 2, 3], "count": 1}),
    ("copy_field", [{"op": "copy", "from": "/spec/list/2", "path": "/spec/last"}],
     {"replicas": 1, "list": [1, 2, 3], "last": 3}),
    ("test_then_replace", [{"op": "test", "path": "/spec/replicas", "value": 1},
                           {"op": "replace", "path": "/spec/replicas", "value": 2}],
     {"replicas": 2, "list": [1, 2, 3]}),
]


@pytest.mark.parametrize("name,ops,spec", JSON_PATCH_CASES, ids=[c[0] for c in JSON_PATCH_CASES])
def test_json_patch_operation_gives_expected_spec(name: str, ops: list, spec: dict) -> None:
    """RFC 6902 operations, including the ``-`` index and a ``test`` guard."""
    before = copy.deepcopy(DOC)
    assert apply_json_patch(DOC, ops)["spec"] == spec
    assert DOC == before


def test_json_patch_escapes_slash_and_tilde_in_keys() -> None:
    """``~1`` is ``/`` and ``~0`` is ``~`` in a pointer (RFC 6901)."""
    out = apply_json_patch(DOC, [{"op": "remove", "path": "/metadata/labels/a~1b"},
                                 {"op": "replace", "path": "/metadata/labels/t~0", "value": "z"}])
    assert out["metadata"]["labels"] == {"app": "web", "t~": "z"}


@pytest.mark.parametrize("ops,fragment", [
    ([{"op": "test", "path": "/spec/replicas", "value": 2}], "test failed"),
    ([{"op": "remove", "path": "/spec/missing"}], "does not exist"),
    ([{"op": "replace", "path": "/spec/list/7", "value": 1}], "out of range"),
    ([{"op": "frobnicate", "path": "/spec"}], 'unknown op "frobnicate"'),
    ([{"op": "add", "path": "/spec/x"}], 'missing "value"'),
    ([{"op": "add", "path": "spec/x", "value": 1}], 'must be "" or start with "/"'),
    ([{"op": "test", "path": "/spec/replicas", "value": True}], "test failed"),
])
def test_json_patch_bad_operation_raises_patch_error(ops: list, fragment: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch(DOC, ops)
    assert fragment in str(info.value)


# --- RFC 7386 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("patch,expected", [
    ({"metadata": {"labels": {"env": "dev"}}},
     {"name": "web", "labels": {"app": "web", "a/b": "x", "t~": "y", "env": "dev"}}),
    ({"metadata": {"labels": {"app": None, "a/b": None, "t~": None}}}, {"name": "web", "labels": {}}),
    ({"metadata": {"labels": None}}, {"name": "web"}),
])
def test_merge_patch_merges_maps_and_null_deletes(patch: dict, expected: dict) -> None:
    assert apply_merge_patch(DOC, patch)["metadata"] == expected


def test_merge_patch_replaces_lists_whole() -> None:
    assert apply_merge_patch(DOC, {"spec": {"list": [7]}})["spec"] == {"replicas": 1, "list": [7]}


# --- strategic merge patch ----------------------------------------------------------------------

def deployment(containers: list[dict], **spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": containers}}, **spec}}


def containers_of(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


LIVE = deployment([
    {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
     "ports": [{"containerPort": 80, "protocol": "TCP"}], "args": ["--x", "--y"]},
    {"name": "side", "image": "side:1"},
])


def test_three_way_patch_removes_env_var_and_reorders_containers() -> None:
    """What kubectl sends after env A was removed from the manifest and containers swapped."""
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
        "containers": [{"name": "app", "$setElementOrder/env": [{"name": "B"}],
                        "env": [{"$patch": "delete", "name": "A"}]}]}}}}
    out = apply_strategic_merge_patch(LIVE, patch, DEPLOY)
    assert containers_of(out) == [
        {"name": "side", "image": "side:1"},
        {"name": "app", "image": "app:1", "env": [{"name": "B", "value": "2"}],
         "ports": [{"containerPort": 80, "protocol": "TCP"}], "args": ["--x", "--y"]},
    ]
    assert containers_of(LIVE)[0]["env"][0]["name"] == "A", "input must not be mutated"


SMP_CASES = [
    ("container_merged_by_name_and_new_one_appended",
     {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:2"},
                                                    {"name": "new", "image": "n:1"}]}}}},
     lambda o: [(c["name"], c["image"]) for c in containers_of(o)],
     [("app", "app:1"), ("side", "side:2"), ("new", "n:1")]),
    ("ports_merge_by_container_port",
     {"spec": {"template": {"spec": {"containers": [
         {"name": "app", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 9090}]}]}}}},
     lambda o: containers_of(o)[0]["ports"],
     [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 9090}]),
    ("args_are_replaced_not_merged",
     {"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["--z"]}]}}}},
     lambda o: containers_of(o)[0]["args"], ["--z"]),
    ("dollar_patch_replace_in_list_replaces_it",
     {"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}}}},
     containers_of, [{"name": "only", "image": "o:1"}]),
    ("dollar_patch_replace_in_map_replaces_it",
     {"spec": {"template": {"spec": {"$patch": "replace", "containers": [{"name": "x", "image": "x:1"}]}}}},
     lambda o: o["spec"]["template"]["spec"], {"containers": [{"name": "x", "image": "x:1"}]}),
    ("dollar_patch_delete_in_map_empties_it",
     {"spec": {"strategy": {"$patch": "delete"}}},
     lambda o: o["spec"]["strategy"], {}),
    ("null_deletes_a_field",
     {"spec": {"template": {"spec": {"containers": [{"name": "app", "args": None}]}}}},
     lambda o: "args" in containers_of(o)[0], False),
    ("set_element_order_alone_reorders",
     {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}]}}}},
     lambda o: [c["name"] for c in containers_of(o)], ["side", "app"]),
]


@pytest.mark.parametrize("name,patch,view,expected", SMP_CASES, ids=[c[0] for c in SMP_CASES])
def test_strategic_merge_patch_on_deployment(name: str, patch: dict, view, expected) -> None:
    assert view(apply_strategic_merge_patch(LIVE, patch, DEPLOY)) == expected


def test_retain_keys_drops_keys_not_listed() -> None:
    """``$retainKeys`` (e.g. a Deployment strategy switching to Recreate) clears the other keys."""
    live = deployment([], strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert apply_strategic_merge_patch(live, patch, DEPLOY)["spec"]["strategy"] == {"type": "Recreate"}


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    live = {"metadata": {"name": "n", "finalizers": ["a", "b"]}}
    out = apply_strategic_merge_patch(live, {"metadata": {"finalizers": ["b", "c"]}}, ("", "ConfigMap"))
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]
    out = apply_strategic_merge_patch(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
                                      ("", "ConfigMap"))
    assert out["metadata"]["finalizers"] == ["b"]


@pytest.mark.parametrize("gvk,live,patch,view,expected", [
    (("", "Service"), {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
     {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, lambda o: o["spec"]["ports"],
     [{"port": 80, "targetPort": 9090}, {"port": 443}]),
    (("", "Pod"), {"status": {"conditions": [{"type": "Ready", "status": "False"},
                                             {"type": "PodScheduled", "status": "True"}]}},
     {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, lambda o: o["status"]["conditions"],
     [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]),
    (("", "Pod"), {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}},
     {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}},
     lambda o: [r["uid"] for r in o["metadata"]["ownerReferences"]], ["2", "1"]),
    (("", "Pod"), {"spec": {"tolerations": [{"key": "a"}], "volumes": [{"name": "v", "emptyDir": {}}]}},
     {"spec": {"tolerations": [{"key": "b"}], "volumes": [{"name": "w", "emptyDir": {}}]}},
     lambda o: (o["spec"]["tolerations"], [v["name"] for v in o["spec"]["volumes"]]),
     ([{"key": "b"}], ["w", "v"])),
])
def test_merge_keys_of_built_in_kinds(gvk, live, patch, view, expected) -> None:
    """Service ports by port, conditions by type, ownerReferences by uid, tolerations replaced.

    A patch item the server does not have goes before the server-only items, as apimachinery's
    ``mergeSortedSlice`` orders them (``kubectl patch`` adding a volume puts it first).
    """
    assert view(apply_strategic_merge_patch(live, patch, gvk)) == expected


def test_strategic_merge_patch_on_custom_resource_is_unsupported() -> None:
    with pytest.raises(UnsupportedPatch) as info:
        apply_strategic_merge_patch({}, {"spec": {}}, ("gateway.networking.k8s.io", "Gateway"))
    assert "Gateway.gateway.networking.k8s.io" in str(info.value)
    assert "merge-patch+json" in str(info.value)


@pytest.mark.parametrize("patch,fragment", [
    ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, "does not contain declared merge key: name"),
    ({"spec": {"$patch": "explode"}}, 'unknown $patch directive "explode"'),
    ({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "move"}]}}}},
     'unknown $patch directive "move"'),
])
def test_bad_strategic_patch_raises_patch_error(patch: dict, fragment: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_strategic_merge_patch(LIVE, patch, DEPLOY)
    assert fragment in str(info.value)


def test_crd_versions_are_replaced_whole() -> None:
    """``CustomResourceDefinitionSpec.versions`` carries no merge key: a field dropped from a version goes."""
    live = {"spec": {"versions": [{"name": "v1", "served": True, "deprecated": True}]}}
    patch = {"spec": {"versions": [{"name": "v1", "served": True}]}}
    out = apply_strategic_merge_patch(live, patch, ("apiextensions.k8s.io", "CustomResourceDefinition"))
    assert out["spec"]["versions"] == [{"name": "v1", "served": True}]
