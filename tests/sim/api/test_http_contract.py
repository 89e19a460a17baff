"""The API server at the HTTP level: auth, discovery shapes, OpenAPI, watch semantics, deletion
bookkeeping, conflicts, dryRun, protobuf and garbage bodies. Rules from research
kubernetes-api-surface (§ numbers in the docstrings) and semantics.md R6.1 for pod deletion."""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

import pytest


class Http:
    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.ctx = ssl.create_default_context(cadata=sim.ca_pem.decode())

    def conn(self, timeout: float = 10) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.sim.port, context=self.ctx, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, ctype: str = "application/json",
                headers: dict[str, str] | None = None, token: bool = True) -> tuple[int, dict[str, str], Any]:
        c = self.conn()
        h = {"Content-Type": ctype, **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {self.sim.token}"
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed

    def watch(self, path: str, until: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Read watch events until ``until`` of them arrived or the stream ended."""
        c = self.conn(timeout)
        c.request("GET", path, headers={"Authorization": f"Bearer {self.sim.token}"})
        r = c.getresponse()
        out = []
        while len(out) < until:
            line = r.readline()
            if not line:
                break
            out.append(json.loads(line))
        c.close()
        return out


@pytest.fixture(scope="module")
def api(sim):
    return Http(sim)


def test_requests_without_the_token_are_401_status(api):
    code, _, body = api.request("GET", "/api/v1/namespaces", token=False)
    assert code == 401 and body["reason"] == "Unauthorized" and body["kind"] == "Status"
    code, _, body = api.request("GET", "/version", token=False)
    assert code == 200 and body["minor"] == "31"


def test_aggregated_discovery_answers_with_the_gvk_content_type(api):
    """§2.2: client-go tells aggregated from legacy by the response Content-Type."""
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, h, body = api.request("GET", "/apis", headers={"Accept": accept})
    assert h["content-type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    apps = next(i for i in body["items"] if i["metadata"].get("name") == "apps")
    deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert {"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": ["get", "patch", "update"]} in deploy["subresources"]
    code, h, body = api.request("GET", "/apis", headers={"Accept": "application/json"})
    assert body["kind"] == "APIGroupList"


def test_legacy_resource_list_names_subresources(api):
    code, _, body = api.request("GET", "/api/v1")
    names = {r["name"] for r in body["resources"]}
    assert {"pods", "pods/log", "pods/status", "namespaces"} <= names


def test_openapi_v3_declares_field_validation_on_patch(api):
    """§2.3: kubectl ≥ 1.29 looks for a PATCH op with fieldValidation per GVK."""
    _, _, index = api.request("GET", "/openapi/v3")
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    _, _, doc = api.request("GET", url)
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert "fieldValidation" in [p["name"] for p in op["parameters"]]


def test_watch_from_zero_sends_synthetic_added_then_live_events(api, sim):
    """§2.6: resourceVersion 0 means ADDED for current matches first."""
    api.request("POST", "/api/v1/namespaces", {"metadata": {"name": "w0"}})
    api.request("POST", "/api/v1/namespaces/w0/configmaps", {"metadata": {"name": "a"}})
    events = api.watch("/api/v1/namespaces/w0/configmaps?watch=true&resourceVersion=0&timeoutSeconds=1", 5)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


def test_watch_resumes_after_a_resource_version(api):
    api.request("POST", "/api/v1/namespaces", {"metadata": {"name": "w1"}})
    _, _, a = api.request("POST", "/api/v1/namespaces/w1/configmaps", {"metadata": {"name": "a"}})
    api.request("PATCH", "/api/v1/namespaces/w1/configmaps/a", {"data": {"k": "v"}}, "application/merge-patch+json")
    api.request("DELETE", "/api/v1/namespaces/w1/configmaps/a")
    rv = a["metadata"]["resourceVersion"]
    events = api.watch(f"/api/v1/namespaces/w1/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=1", 5)
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]


def test_watch_from_an_expired_version_sends_410_error_event(api, sim):
    """§2.6: an RV older than the history is an ERROR event with a 410 Expired Status."""
    def shrink() -> None:
        import collections
        st = sim.cluster.store
        st._history = collections.deque(list(st._history)[-5:], maxlen=st._history.maxlen)
    sim.call(shrink)
    events = api.watch("/api/v1/namespaces/demo/pods?watch=true&resourceVersion=1", 2)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


def test_watch_selector_transitions_become_added_and_deleted(api):
    """§2.6: an object that starts matching is ADDED, one that stops matching is DELETED."""
    api.request("POST", "/api/v1/namespaces", {"metadata": {"name": "w2"}})
    _, _, cm = api.request("POST", "/api/v1/namespaces/w2/configmaps", {"metadata": {"name": "t"}})
    rv = cm["metadata"]["resourceVersion"]
    mp = "application/merge-patch+json"
    api.request("PATCH", "/api/v1/namespaces/w2/configmaps/t", {"metadata": {"labels": {"on": "y"}}}, mp)
    api.request("PATCH", "/api/v1/namespaces/w2/configmaps/t", {"data": {"x": "1"}}, mp)
    api.request("PATCH", "/api/v1/namespaces/w2/configmaps/t", {"metadata": {"labels": {"on": None}}}, mp)
    events = api.watch(f"/api/v1/namespaces/w2/configmaps?watch=true&labelSelector=on%3Dy&resourceVersion={rv}"
                       "&timeoutSeconds=1", 5)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_bookmarks_carry_the_current_resource_version(api, sim):
    events = api.watch("/api/v1/namespaces/demo/secrets?watch=true&allowWatchBookmarks=true&resourceVersion=0"
                       "&timeoutSeconds=3", 1)
    assert events[0]["type"] == "BOOKMARK"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > 0


def test_table_watch_sends_column_definitions_only_first(api):
    """§2.5: serveWatch empties columnDefinitions after the first event."""
    api.request("POST", "/api/v1/namespaces", {"metadata": {"name": "w3"}})
    for n in ("a", "b"):
        api.request("POST", "/api/v1/namespaces/w3/configmaps", {"metadata": {"name": n}})
    c = api.conn()
    c.request("GET", "/api/v1/namespaces/w3/configmaps?watch=true&timeoutSeconds=1", headers={
        "Authorization": f"Bearer {api.sim.token}", "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    events = [json.loads(ln) for ln in c.getresponse().read().splitlines()]
    assert [e["object"]["kind"] for e in events] == ["Table", "Table"]
    assert events[0]["object"]["columnDefinitions"] and not events[1]["object"]["columnDefinitions"]
    assert events[1]["object"]["rows"][0]["cells"][0] == "b"


def test_scheduled_pod_delete_is_graceful_and_zero_grace_removes_at_once(api):
    """R6.1: deletionTimestamp + grace period, the pod stays until removed; grace 0 removes it."""
    api.request("POST", "/api/v1/namespaces/demo/pods", {"metadata": {"name": "g"}, "spec": {
        "nodeName": "sim-node-1", "terminationGracePeriodSeconds": 7, "containers": [{"name": "c", "image": "x:1"}]}})
    code, _, body = api.request("DELETE", "/api/v1/namespaces/demo/pods/g")
    assert code == 200 and body["metadata"]["deletionGracePeriodSeconds"] == 7
    assert api.request("GET", "/api/v1/namespaces/demo/pods/g")[0] == 200
    api.request("DELETE", "/api/v1/namespaces/demo/pods/g", {"gracePeriodSeconds": 0})
    assert api.request("GET", "/api/v1/namespaces/demo/pods/g")[0] == 404


def test_finalizers_hold_an_object_until_an_update_empties_them(api):
    api.request("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "fin", "finalizers": ["x/y"]}})
    code, _, body = api.request("DELETE", "/api/v1/namespaces/demo/configmaps/fin")
    assert code == 200 and body["metadata"]["deletionTimestamp"]
    api.request("PATCH", "/api/v1/namespaces/demo/configmaps/fin", {"metadata": {"finalizers": None}},
                "application/merge-patch+json")
    assert api.request("GET", "/api/v1/namespaces/demo/configmaps/fin")[0] == 404


def test_put_with_stale_resource_version_is_409_conflict(api):
    _, _, cm = api.request("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "put"}})
    cm["data"] = {"a": "1"}
    assert api.request("PUT", "/api/v1/namespaces/demo/configmaps/put", cm)[0] == 200
    code, _, body = api.request("PUT", "/api/v1/namespaces/demo/configmaps/put", cm)
    assert code == 409 and body["reason"] == "Conflict"
    assert 'Operation cannot be fulfilled on configmaps "put"' in body["message"]


def test_dry_run_stores_nothing(api):
    code, _, body = api.request("POST", "/api/v1/namespaces/demo/configmaps?dryRun=All", {"metadata": {"name": "dry"}})
    assert code == 201 and body["metadata"]["name"] == "dry"
    assert api.request("GET", "/api/v1/namespaces/demo/configmaps/dry")[0] == 404


def test_generate_name_appends_five_characters(api):
    code, _, body = api.request("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"generateName": "gen-"}})
    assert code == 201 and body["metadata"]["name"].startswith("gen-") and len(body["metadata"]["name"]) == 9


def test_namespace_mismatch_is_400(api):
    code, _, body = api.request("POST", "/api/v1/namespaces/demo/configmaps",
                                {"metadata": {"name": "x", "namespace": "other"}})
    assert code == 400 and "does not match the namespace" in body["message"]


def test_protobuf_body_is_415_with_what_to_run_instead(api):
    code, _, body = api.request("POST", "/api/v1/namespaces", b"k8s\x00\x0a\x0f", "application/vnd.kubernetes.protobuf")
    assert code == 415 and body["reason"] == "UnsupportedMediaType"
    assert "kubectl apply -f" in body["message"]


def test_status_subresource_changes_only_status(api):
    _, _, d = api.request("POST", "/apis/apps/v1/namespaces/demo/deployments", {
        "metadata": {"name": "st"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    code, _, body = api.request("PATCH", "/apis/apps/v1/namespaces/demo/deployments/st/status",
                                {"spec": {"replicas": 9}, "status": {"readyReplicas": 1}},
                                "application/merge-patch+json")
    assert code == 200 and body["status"]["readyReplicas"] == 1 and body["spec"]["replicas"] == 1
    code, _, body = api.request("PATCH", "/apis/apps/v1/namespaces/demo/deployments/st",
                                {"status": {"readyReplicas": 5}}, "application/merge-patch+json")
    assert body["status"]["readyReplicas"] == 1  # the main resource ignores status


GARBAGE = [b"{", b"[1,2", b"\xff\xfe", b"null", b"[]", b'"string"', b'{"metadata": 5}', b'{"metadata": {"name": 5}}',
           b'{"spec": "x", "metadata": {"name": "g"}}', b'{"metadata": {"name": "g", "labels": {"a": 1}}}',
           b'{"metadata": {"name": "g", "labels": "x"}}']


@pytest.mark.parametrize("body", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_bodies_are_4xx_status_and_change_nothing(api, sim, body):
    before = sim.call(lambda: sim.cluster.store.resource_version)
    for method, path in (("POST", "/api/v1/namespaces/demo/configmaps"),
                         ("PUT", "/api/v1/namespaces/demo/configmaps/put"),
                         ("PATCH", "/api/v1/namespaces/demo/configmaps/put")):
        ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
        code, _, resp = api.request(method, path, body, ctype)
        assert 400 <= code < 500, (method, body, code, resp)
        assert resp["kind"] == "Status"
    assert sim.call(lambda: sim.cluster.store.resource_version) == before


def test_unknown_paths_and_methods_are_status_errors(api):
    assert api.request("GET", "/api/v1/namespaces/demo/widgetz")[0] == 404
    assert api.request("GET", "/apis/apps/v9/deployments")[0] == 404
    code, _, body = api.request("POST", "/api/v1/namespaces/demo/configmaps/put", {})
    assert code == 405 and body["reason"] == "MethodNotAllowed"
    code, _, body = api.request("PATCH", "/api/v1/namespaces/demo/configmaps/put", {}, "text/plain")
    assert code == 415


PATCHES = [
    ("application/merge-patch+json", {"metadata": {"name": "renamed"}}),
    ("application/merge-patch+json", {"metadata": {"labels": {"a": 1}}}),
    ("application/merge-patch+json", {"kind": "Pod"}),
    ("application/merge-patch+json", [1, 2]),
    ("application/json-patch+json", [{"op": "replace", "path": "/metadata", "value": "x"}]),
    ("application/json-patch+json", [{"op": "remove", "path": "/nope/deeper"}]),
    ("application/json-patch+json", [{"op": "bogus"}]),
    ("application/json-patch+json", {"not": "a list"}),
    ("application/strategic-merge-patch+json", {"data": 5}),
    ("application/strategic-merge-patch+json", {"$patch": "explode"}),
    ("application/apply-patch+yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}),
    ("application/apply-patch+yaml", "just a string"),
]


@pytest.mark.parametrize("ctype,body", PATCHES, ids=range(len(PATCHES)))
def test_bad_patches_are_4xx_status_and_change_nothing(api, sim, ctype, body):
    api.request("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "target"}, "data": {"k": "v"}})
    before = sim.call(lambda: sim.cluster.store.resource_version)
    q = "?fieldManager=fuzz" if "apply" in ctype else ""
    code, _, resp = api.request("PATCH", f"/api/v1/namespaces/demo/configmaps/target{q}", body, ctype)
    assert 400 <= code < 500, (ctype, body, code, resp)
    assert resp["kind"] == "Status"
    assert sim.call(lambda: sim.cluster.store.resource_version) == before


def test_log_options_since_timestamps_and_limit_bytes(api, sim):
    def write() -> float:
        logs, now = sim.cluster.logs, sim.cluster.clock.now()
        for i in range(3):
            logs.write("demo", "web-2", "web", f"entry {i}")
        return now
    sim.call(write)
    base = "/api/v1/namespaces/demo/pods/web-2/log?container=web"
    code, h, text = api.request("GET", base + "&timestamps=true&tailLines=1")
    assert code == 200 and h["content-type"].startswith("text/plain")
    stamp, rest = text.rstrip("\n").split(" ", 1)
    assert rest == "entry 2" and stamp.endswith("Z") and len(stamp.split(".")[1]) == 10
    assert api.request("GET", base + "&limitBytes=7")[2] == "entry 0"
    assert api.request("GET", base + "&sinceSeconds=3600")[2].splitlines() == ["entry 0", "entry 1", "entry 2"]
    code, _, body = api.request("GET", base + "&previous=true")
    assert code == 400 and 'previous terminated container "web" in pod "web-2" not found' in body["message"]
    assert api.request("GET", base + "&tailLines=abc")[0] == 400


def test_dry_run_on_status_and_scale_changes_nothing(api):
    api.request("POST", "/apis/apps/v1/namespaces/demo/deployments", {
        "metadata": {"name": "dry-scale"}, "spec": {"selector": {"matchLabels": {"a": "d"}}, "template": {
            "metadata": {"labels": {"a": "d"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    path = "/apis/apps/v1/namespaces/demo/deployments/dry-scale"
    code, _, body = api.request("PATCH", path + "/scale?dryRun=All", {"spec": {"replicas": 7}},
                                "application/merge-patch+json")
    assert code == 200 and body["spec"]["replicas"] == 7
    code, _, body = api.request("PATCH", path + "/status?dryRun=All", {"status": {"replicas": 3}},
                                "application/merge-patch+json")
    assert code == 200 and body["status"]["replicas"] == 3
    live = api.request("GET", path)[2]
    assert live["spec"]["replicas"] == 1 and "replicas" not in (live.get("status") or {})


def test_deeply_nested_body_is_a_bad_request(api):
    deep = b"[" * 100_000 + b"]" * 100_000
    code, _, body = api.request("POST", "/api/v1/namespaces/demo/configmaps", deep)
    assert code == 400 and body["reason"] == "BadRequest"
