"""What DELETE answers, resource by resource, and how Status bodies are written (docs/semantics-addendum.md
R16.1–R16.8), checked over HTTP, with the real kubectl and with the kubernetes client.

The bare simulator runs no controllers: an object held by a finalizer stays held, which is what the
answers to those deletes are about.
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

# R16.1: (create path, body, delete path) -> what an immediate DELETE answers: the deleted object for
# the storages built with ReturnDeletedObject, else a Success Status naming the resource
IMMEDIATE = [
    ("/api/v1/namespaces/demo/pods", {"metadata": {"name": "del-pod"},
                                       "spec": {"containers": [{"name": "c", "image": "x:1"}]}}, "Pod"),
    ("/api/v1/namespaces/demo/services", {"metadata": {"name": "del-svc"}, "spec": {"ports": [{"port": 80}]}},
     "Service"),
    ("/api/v1/namespaces/demo/serviceaccounts", {"metadata": {"name": "del-sa"}}, "ServiceAccount"),
    ("/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "del-cm"}, "data": {"a": "1"}}, "Status"),
    ("/api/v1/namespaces/demo/secrets", {"metadata": {"name": "del-secret"}}, "Status"),
    ("/api/v1/namespaces/demo/endpoints", {"metadata": {"name": "del-ep"}}, "Status"),
    ("/api/v1/nodes", {"metadata": {"name": "del-node"}}, "Status"),
    ("/apis/apps/v1/namespaces/demo/deployments", {"metadata": {"name": "del-deploy"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "containers": [{"name": "c", "image": "x:1"}]}}}}, "Status"),
    ("/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices",
     {"metadata": {"name": "del-slice"}, "addressType": "IPv4", "endpoints": []}, "Status"),
    ("/apis/coordination.k8s.io/v1/namespaces/demo/leases", {"metadata": {"name": "del-lease"}}, "Status"),
]


class Raw:
    """HTTP to the simulator, returning the raw body bytes (what byte-comparing clients see)."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.ctx = ssl.create_default_context(cadata=sim.ca_pem.decode())

    def request(self, method: str, path: str, body: Any = None, *, agent: str = "test-client/1.0",
                token: str | None = None) -> tuple[int, dict[str, str], bytes]:
        c = http.client.HTTPSConnection("127.0.0.1", self.sim.port, context=self.ctx, timeout=10)
        data = None if body is None else json.dumps(body).encode()
        c.request(method, path, body=data, headers={"Authorization": f"Bearer {token or self.sim.token}",
                                                    "Content-Type": "application/json", "User-Agent": agent})
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, raw

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        code, headers, raw = self.request(method, path, body)
        return code, headers, json.loads(raw)


@pytest.fixture(scope="module")
def raw(sim):
    return Raw(sim)


@pytest.mark.parametrize("collection,body,expected", IMMEDIATE, ids=[b["metadata"]["name"] for _, b, _ in IMMEDIATE])
def test_immediate_delete_answers_the_object_or_a_success_status_by_storage(raw, collection, body, expected):
    """R16.1: pods, services and serviceaccounts answer the deleted object; other storages a Status."""
    code, _, created = raw.json("POST", collection, body)
    assert code == 201, created
    name = body["metadata"]["name"]
    code, _, out = raw.json("DELETE", f"{collection}/{name}")
    assert code == 200 and out["kind"] == expected, out
    if expected == "Status":
        assert list(out) == ["kind", "apiVersion", "metadata", "status", "details"]
        assert out["status"] == "Success" and out["details"]["name"] == name
        assert out["details"]["kind"] == collection.rsplit("/", 1)[1]  # the resource, not the kind
        assert out["details"]["uid"] == created["metadata"]["uid"]
    else:
        assert out["metadata"]["uid"] == created["metadata"]["uid"]
    assert raw.json("GET", f"{collection}/{name}")[0] == 404


def test_deleted_pod_answer_carries_its_deletion_stamp(raw):
    """R16.1: a pod deleted at once is written with deletionTimestamp and grace 0 before it goes."""
    raw.json("POST", "/api/v1/namespaces/demo/pods", {"metadata": {"name": "stamped"}, "spec": {
        "containers": [{"name": "c", "image": "x:1"}]}})
    _, _, out = raw.json("DELETE", "/api/v1/namespaces/demo/pods/stamped")
    assert out["metadata"]["deletionGracePeriodSeconds"] == 0 and out["metadata"]["deletionTimestamp"]


def test_object_held_by_a_finalizer_is_answered_with_its_deletion_timestamp(raw):
    """R16.2: a finalizer keeps the object; the answer is the object, 200, deletionTimestamp set."""
    raw.json("POST", "/api/v1/namespaces/demo/configmaps",
             {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    code, _, out = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps/held")
    assert code == 200 and out["kind"] == "ConfigMap" and out["metadata"]["deletionTimestamp"]
    assert out["metadata"]["finalizers"] == ["example.com/hold"]
    code, _, again = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps/held")
    assert code == 200 and again["metadata"]["deletionTimestamp"] == out["metadata"]["deletionTimestamp"]
    assert raw.json("GET", "/api/v1/namespaces/demo/configmaps/held")[0] == 200


def test_cascading_delete_not_done_at_once_is_202_when_orphan_dependents_is_false(raw):
    """R16.2: orphanDependents=false and a deletion that is not immediate: 202 Accepted."""
    raw.json("POST", "/api/v1/namespaces/demo/configmaps",
             {"metadata": {"name": "accepted", "finalizers": ["example.com/hold"]}})
    code, _, out = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps/accepted", {"orphanDependents": False})
    assert code == 202 and out["kind"] == "ConfigMap"


def test_foreground_policy_adds_the_foreground_finalizer(raw):
    """R16.3: propagationPolicy=Foreground holds the object with foregroundDeletion."""
    raw.json("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "fg"}})
    code, _, out = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps/fg", {"propagationPolicy": "Foreground"})
    assert code == 200 and out["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_bad_propagation_policy_is_invalid_delete_options(raw):
    """R16.6: ValidateDeleteOptions: 422 naming DeleteOptions.meta.k8s.io and the supported values."""
    raw.json("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "pp"}})
    code, _, out = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps/pp", {"propagationPolicy": "Later"})
    assert code == 422 and out["reason"] == "Invalid"
    assert out["message"] == ('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                              '"Later": supported values: "Foreground", "Background", "Orphan", "nil"')


def test_namespace_delete_answers_terminating_then_conflict(raw, kubectl):
    """R16.5: the first DELETE answers the Terminating namespace; another one is 409 Conflict."""
    raw.json("POST", "/api/v1/namespaces", {"metadata": {"name": "twice"}})
    code, _, out = raw.json("DELETE", "/api/v1/namespaces/twice")
    assert code == 200 and out["kind"] == "Namespace" and out["status"]["phase"] == "Terminating"
    r = kubectl("delete", "namespace", "twice", "--wait=false", ok=False)
    assert r.stderr.strip() == ('Error from server (Conflict): Operation cannot be fulfilled on namespaces "twice": '
                                "The system is ensuring all content is removed from this namespace.  Upon "
                                "completion, this namespace will automatically be purged by the system.")


def test_delete_collection_answers_the_list_as_it_was_listed(raw):
    """R16.4: deletecollection answers a <Kind>List of the objects as they were before the deletes."""
    for i in range(2):
        raw.json("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": f"col-{i}", "labels": {
            "col": "yes"}, **({"finalizers": ["example.com/hold"]} if i else {})}})
    code, _, out = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps?labelSelector=col%3Dyes")
    assert code == 200 and out["kind"] == "ConfigMapList"
    assert [o["metadata"]["name"] for o in out["items"]] == ["col-0", "col-1"]
    assert not any(o["metadata"].get("deletionTimestamp") for o in out["items"])
    assert raw.json("GET", "/api/v1/namespaces/demo/configmaps/col-0")[0] == 404
    assert raw.json("GET", "/api/v1/namespaces/demo/configmaps/col-1")[2]["metadata"]["deletionTimestamp"]


def test_namespaces_have_no_deletecollection(raw):
    """R16.4: the namespace storage serves no deletecollection (405, and discovery omits the verb)."""
    code, _, out = raw.json("DELETE", "/api/v1/namespaces")
    assert code == 405 and out["reason"] == "MethodNotAllowed"
    _, _, core = raw.json("GET", "/api/v1")
    ns = next(r for r in core["resources"] if r["name"] == "namespaces")
    assert "deletecollection" not in ns["verbs"]


JOB = {"metadata": {"name": "J"}, "spec": {"template": {"spec": {
    "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36", "command": ["true"]}]}}}}
JOB_WARNING = ('299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background '
               'to remove them or set propagationPolicy=Orphan to suppress this warning"')


def test_job_delete_without_a_policy_warns_that_its_pods_are_kept(raw):
    """R16.3: batch/v1 Jobs orphan by default; a DELETE that leaves the policy unset gets the job
    storage's warning and the Job held by ``orphan``; one with a policy gets no warning."""
    raw.json("POST", "/apis/batch/v1/namespaces/demo/jobs", {**JOB, "metadata": {"name": "warned"}})
    code, headers, out = raw.json("DELETE", "/apis/batch/v1/namespaces/demo/jobs/warned")
    assert code == 200 and headers.get("warning") == JOB_WARNING
    assert out["kind"] == "Job" and out["metadata"]["finalizers"] == ["orphan"]
    raw.json("POST", "/apis/batch/v1/namespaces/demo/jobs", {**JOB, "metadata": {"name": "quiet"}})
    code, headers, out = raw.json("DELETE", "/apis/batch/v1/namespaces/demo/jobs/quiet",
                                  {"propagationPolicy": "Background"})
    assert code == 200 and "warning" not in headers and out["status"] == "Success"


def test_stale_uid_precondition_is_a_conflict_and_keeps_the_object(raw):
    """R16.7: preconditions that do not match the stored object are 409, worded as the storage's check."""
    _, _, created = raw.json("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "pre"}})
    uid = created["metadata"]["uid"]
    code, _, out = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps/pre", {"preconditions": {"uid": "not-it"}})
    assert code == 409 and out["reason"] == "Conflict"
    assert out["message"] == ('Operation cannot be fulfilled on configmaps "pre": Precondition failed: UID in '
                              f'precondition: not-it, UID in object meta: {uid}')
    assert raw.json("GET", "/api/v1/namespaces/demo/configmaps/pre")[0] == 200
    code, _, _ = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps/pre", {"preconditions": {"uid": uid}})
    assert code == 200 and raw.json("GET", "/api/v1/namespaces/demo/configmaps/pre")[0] == 404


def test_dry_run_delete_answers_as_a_delete_and_changes_nothing(raw, kubectl):
    """R16.7: dryRun=All gets the answer a delete would get; the object stays (kubectl --dry-run=server)."""
    raw.json("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "dry"}})
    code, _, out = raw.json("DELETE", "/api/v1/namespaces/demo/configmaps/dry?dryRun=All")
    assert code == 200 and out["status"] == "Success" and out["details"]["name"] == "dry"
    assert raw.json("GET", "/api/v1/namespaces/demo/configmaps/dry")[0] == 200
    r = kubectl("delete", "configmap", "dry", "-n", "demo", "--dry-run=server")
    assert r.stdout.strip() == 'configmap "dry" deleted (server dry run)'
    assert raw.json("GET", "/api/v1/namespaces/demo/configmaps/dry")[0] == 200


# ---- the kubernetes client --------------------------------------------------------------------------
def test_python_client_delete_namespaced_service_returns_the_service(client):
    """The issue's crash: delete_namespaced_service is typed V1Service and now decodes one."""
    v1 = k8s.CoreV1Api(client)
    v1.create_namespaced_service("demo", {"metadata": {"name": "py-svc"}, "spec": {"ports": [{"port": 80}]}})
    out = v1.delete_namespaced_service("py-svc", "demo")
    assert isinstance(out, k8s.V1Service) and out.metadata.name == "py-svc" and out.spec.ports[0].port == 80
    v1.create_namespaced_service_account("demo", {"metadata": {"name": "py-sa"}})
    sa = v1.delete_namespaced_service_account("py-sa", "demo")
    assert isinstance(sa, k8s.V1ServiceAccount) and sa.metadata.name == "py-sa"


def test_python_client_delete_of_other_kinds_gets_a_success_status(client):
    """R16.1: delete_namespaced_config_map (typed ``object``) gets the Success Status as a dict."""
    v1 = k8s.CoreV1Api(client)
    v1.create_namespaced_config_map("demo", {"metadata": {"name": "py-del"}})
    out = v1.delete_namespaced_config_map("py-del", "demo")
    assert out["status"] == "Success" and out["details"] == {
        "name": "py-del", "kind": "configmaps", "uid": out["details"]["uid"]}
    with pytest.raises(ApiException) as exc:
        v1.delete_namespaced_config_map("py-del", "demo")
    assert exc.value.status == 404


def test_python_client_delete_collection_decodes(client):
    """R16.4: delete_collection_namespaced_config_map gets the deleted list (typed V1Status)."""
    v1 = k8s.CoreV1Api(client)
    for i in range(2):
        v1.create_namespaced_config_map("demo", {"metadata": {"name": f"pyc-{i}", "labels": {"pyc": "1"}}})
    v1.delete_collection_namespaced_config_map("demo", label_selector="pyc=1")
    assert v1.list_namespaced_config_map("demo", label_selector="pyc=1").items == []


def test_kubectl_delete_prints_the_deleted_service(kubectl):
    """kubectl reads the answer to print ``service "x" deleted``."""
    kubectl("create", "service", "clusterip", "kd-svc", "--tcp=80:8080", "-n", "demo")
    assert kubectl("delete", "service", "kd-svc", "-n", "demo").stdout.strip() == 'service "kd-svc" deleted'


# ---- Status bodies, byte for byte -----------------------------------------------------------------------
NOT_FOUND = ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps '
             '\\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"configmaps"},"code":404}\n')


def test_status_body_is_written_as_the_api_server_writes_it(raw):
    """R16.8: field order kind, apiVersion, metadata, status, message, reason, details, code;
    compact, one trailing newline (Go's json.Encoder.Encode, as a kube-apiserver writes it: the
    issue's "no trailing newline" holds only for the pretty form below)."""
    code, headers, body = raw.request("GET", "/api/v1/namespaces/demo/configmaps/nope")
    assert code == 404 and headers["content-type"].startswith("application/json")
    assert body.decode() == NOT_FOUND


def test_status_body_for_curl_is_indented_without_trailing_newline(raw):
    """R16.8: curl (and ?pretty=true) gets json.MarshalIndent: two spaces, no newline at the end."""
    _, _, body = raw.request("GET", "/api/v1/namespaces/demo/configmaps/nope", agent="curl/8.7.1")
    assert body.decode() == json.dumps(json.loads(NOT_FOUND), indent=2)
    _, _, pretty = raw.request("GET", "/api/v1/namespaces/demo/configmaps/nope?pretty=true")
    assert pretty == body
    _, _, plain = raw.request("GET", "/api/v1/namespaces/demo/configmaps/nope?pretty=false", agent="curl/8.7.1")
    assert plain.decode() == NOT_FOUND


def test_unauthorized_status_is_compact_json_with_one_trailing_newline(raw):
    """R16.8: the 401 for a wrong token is negotiated like any Status: compact, newline-terminated."""
    code, headers, body = raw.request("GET", "/api/v1/namespaces/demo/configmaps", token="not-the-token")
    assert code == 401 and headers["content-type"].startswith("application/json")
    assert body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized",'
                    b'"reason":"Unauthorized","code":401}\n')


def test_html_characters_in_strings_are_escaped_as_go_does(raw):
    """R16.8: encoding/json writes <, > and & in strings as \\u003c, \\u003e, \\u0026."""
    raw.json("POST", "/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "html"}, "data": {"a": "<b>&"}})
    _, _, body = raw.request("GET", "/api/v1/namespaces/demo/configmaps/html")
    assert b'"a":"\\u003cb\\u003e\\u0026"' in body and json.loads(body)["data"]["a"] == "<b>&"


def test_python_client_exception_body_is_the_status_text(client):
    """Clients that compare error text get the API server's bytes in ApiException.body."""
    with pytest.raises(ApiException) as exc:
        k8s.CoreV1Api(client).read_namespaced_config_map("nope", "demo")
    assert exc.value.body == NOT_FOUND
