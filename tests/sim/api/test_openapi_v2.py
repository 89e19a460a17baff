"""``/openapi/v2`` (server/openapi_v2.py) and what the real kubectl does with it: a ``kind: List``
(and a ``<Kind>List``) is applied, created and deleted as on a cluster, and with the default
``--validate=strict`` kubectl checks its items itself against the v2 definitions (R16.31)."""

from __future__ import annotations

import copy
import http.client
import ssl
from typing import Any

import pytest

from ambient_lb.sim.resources import Registry
from ambient_lb.sim.server import openapi_v2
from ambient_lb.sim.server.protobuf import fields
from ambient_lb.sim.store import GR

pytestmark = pytest.mark.kubectl
CM = GR("", "configmaps")


def cm_list(*names: str, kind: str = "List", extra: str = "") -> str:
    """A List of ConfigMaps in demo; ``extra`` is one more line in the last item."""
    items = "".join(f"- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: {n}, namespace: demo}}\n"
                    f"  data: {{k: \"{n}\"}}\n" for n in names)
    return f"apiVersion: v1\nkind: {kind}\nitems:\n{items}" + (f"  {extra}\n" if extra else "")


def store_get(sim: Any, gr: GR, ns: str, name: str) -> Any:
    return sim.call(lambda: copy.deepcopy(sim.cluster.store.get(gr, ns, name)))


def raw_get(sim: Any, path: str, accept: str | None) -> tuple[int, dict[str, str], bytes]:
    ctx = ssl.create_default_context(cadata=sim.ca_pem.decode())
    c = http.client.HTTPSConnection("127.0.0.1", sim.port, context=ctx, timeout=10)
    headers = {"Authorization": f"Bearer {sim.token}", **({"Accept": accept} if accept else {})}
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    c.close()
    return out


def test_apply_of_a_kind_list_creates_each_item_then_leaves_them_unchanged(kubectl, sim):
    r = kubectl("apply", "-f", "-", stdin=cm_list("list-a", "list-b"))
    assert r.stdout.splitlines() == ["configmap/list-a created", "configmap/list-b created"]
    assert store_get(sim, CM, "demo", "list-b")["data"] == {"k": "list-b"}
    r = kubectl("apply", "-f", "-", stdin=cm_list("list-a", "list-b"))
    assert r.stdout.splitlines() == ["configmap/list-a unchanged", "configmap/list-b unchanged"]


@pytest.mark.parametrize("argv,word", [
    (("apply", "--server-side"), "serverside-applied"),
    (("apply", "--dry-run=server"), "created (server dry run)"),
    (("create",), "created"),
])
def test_a_kind_list_goes_through_every_write_path_kubectl_has(kubectl, sim, argv, word):
    name = f"list-{argv[-1].strip('-').split('=')[0]}"
    r = kubectl(*argv, "-f", "-", stdin=cm_list(name))
    assert r.stdout.strip() == f"configmap/{name} {word}"
    assert (store_get(sim, CM, "demo", name) is None) == ("dry-run" in argv[-1])


def test_delete_of_a_kind_list_deletes_each_item(kubectl, sim):
    kubectl("apply", "-f", "-", stdin=cm_list("list-del-a", "list-del-b"))
    r = kubectl("delete", "-f", "-", stdin=cm_list("list-del-a", "list-del-b"))
    assert r.stdout.splitlines() == ['configmap "list-del-a" deleted', 'configmap "list-del-b" deleted']
    assert store_get(sim, CM, "demo", "list-del-a") is None


def test_an_unknown_field_in_a_list_item_fails_in_kubectl_before_any_item_is_written(kubectl, sim):
    """As on a cluster: kubectl validates the items against /openapi/v2 and sends nothing."""
    r = kubectl("apply", "-f", "-", stdin=cm_list("strict-a", "strict-b", extra="bogus: x"), ok=False)
    assert ('error validating data: ValidationError(ConfigMap): unknown field "bogus" in '
            "io.k8s.api.core.v1.ConfigMap") in r.stderr
    assert store_get(sim, CM, "demo", "strict-a") is None


def test_a_nested_unknown_field_in_a_list_item_names_the_type_it_is_unknown_in(kubectl):
    item = ("- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: nested, namespace: demo}\n"
            "  spec:\n    selector: {matchLabels: {app: nested}}\n    template:\n"
            "      metadata: {labels: {app: nested}}\n"
            "      spec: {containers: [{name: web, image: nginx, bogus: 1}]}\n")
    r = kubectl("apply", "-f", "-", stdin=f"apiVersion: v1\nkind: List\nitems:\n{item}", ok=False)
    assert ('ValidationError(Deployment.spec.template.spec.containers[0]): unknown field "bogus" in '
            "io.k8s.api.core.v1.Container") in r.stderr


def test_validate_warn_applies_a_list_and_the_server_warns_of_the_unknown_field(kubectl, sim):
    r = kubectl("apply", "--validate=warn", "-f", "-", stdin=cm_list("warn-a", extra="bogus: x"))
    assert 'Warning: unknown field "bogus"' in r.stderr
    assert "bogus" not in store_get(sim, CM, "demo", "warn-a")


def test_a_configmaplist_applies_its_items_and_validates_them_as_configmaps(kubectl, sim):
    kubectl("apply", "-f", "-", stdin=cm_list("typed-a", kind="ConfigMapList"))
    assert store_get(sim, CM, "demo", "typed-a") is not None
    bad = cm_list("typed-b", kind="ConfigMapList").replace("namespace: demo}", "namespace: demo, bogus: x}")
    r = kubectl("apply", "-f", "-", stdin=bad, ok=False)
    assert ('ValidationError(ConfigMapList.items[0].metadata): unknown field "bogus" in '
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") in r.stderr


def test_client_side_apply_of_a_list_still_merges_containers_by_name(kubectl, sim):
    """The document has no paths, so kubectl computes patches from its compiled-in types as before."""
    def doc(env: str) -> str:
        return ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n"
                "  metadata: {name: merged, namespace: demo}\n  spec:\n    selector: {matchLabels: {app: m}}\n"
                "    template:\n      metadata: {labels: {app: m}}\n"
                f"      spec: {{containers: [{{name: web, image: nginx, env: [{env}]}}]}}\n")
    kubectl("apply", "-f", "-", stdin=doc("{name: A, value: '1'}"))
    r = kubectl("apply", "-f", "-", stdin=doc("{name: A, value: '2'}"))
    assert "warning" not in r.stderr.lower()
    c = store_get(sim, GR("apps", "deployments"), "demo", "merged")["spec"]["template"]["spec"]["containers"]
    assert [(x["name"], x["env"]) for x in c] == [("web", [{"name": "A", "value": "2"}])]


def test_openapi_v2_answers_kubectl_in_protobuf_others_in_json_and_406_to_the_rest(sim):
    code, h, body = raw_get(sim, "/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    assert (code, h["content-type"]) == (200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
    top = {num: v for num, _, v in fields(body)}
    assert top[1] == b"2.0" and 9 in top  # swagger, definitions
    names = {dict((n, v) for n, _, v in fields(named))[1].decode() for _, _, named in fields(top[9])}
    assert {"io.k8s.api.core.v1.ConfigMap", "io.k8s.api.core.v1.ConfigMapList", "io.k8s.api.core.v1.Container"} <= names
    code, h, body = raw_get(sim, "/openapi/v2", None)
    assert (code, h["content-type"], h["vary"]) == (200, "application/json", "Accept")
    assert raw_get(sim, "/openapi/v2", "text/html")[0] == 406


def test_openapi_v2_definitions_carry_the_kind_they_validate():
    assert openapi_v2.negotiate("text/html;q=0.9, application/*;q=0.5") == "application/json"
    defs = openapi_v2.document(Registry())["definitions"]
    assert defs["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["items"] == {
        "$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    assert "io.k8s.api.coordination.v1.Lease" not in defs  # no field schema: kubectl skips such items


def test_python_client_creates_the_items_of_a_list(client, sim):
    from kubernetes import utils
    doc = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py-list", "namespace": "demo"}}]}
    utils.create_from_dict(client, doc)
    assert store_get(sim, CM, "demo", "py-list") is not None
