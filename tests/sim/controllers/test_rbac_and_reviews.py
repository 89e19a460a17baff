"""rbac.authorization.k8s.io/v1 served, and the reviews kubectl asks for (docs/semantics-addendum.md
R16.10–R16.15), driven by the real kubectl and the kubernetes client: apply, get with the printers'
columns, watch, delete, ``kubectl auth can-i`` (also ``--as`` and ``--list``), ``kubectl auth whoami``,
``kubectl api-resources``, and RBAC deciding what an impersonated identity may do."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException

from ambient_lb.sim.process import Simulator, running_simulator

from .world_fixtures import Kubectl, api_client, header, kubectl_for, kubectl_watch_until, rows

pytestmark = pytest.mark.kubectl

READER = """
apiVersion: v1
kind: Namespace
metadata: {name: NS}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: NS}
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods, namespace: NS}
roleRef: {kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: reader}
- {kind: User, name: alice}
- {kind: Group, name: auditors}
"""
SA = "system:serviceaccount:{ns}:reader"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with running_simulator(seed=23, speed=20, mesh=False) as s:
        yield s


@pytest.fixture(scope="module")
def kubectl(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return kubectl_for(sim, tmp_path_factory.mktemp("kcache"))


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Any:
    return api_client(sim)


def _reader(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-f", "-", stdin=READER.replace("NS", ns))


def test_get_roles_and_bindings_print_the_apiserver_columns(kubectl) -> None:
    """R16.15: Roles use the default printer (NAME, CREATED AT); bindings NAME ROLE AGE | USERS GROUPS
    SERVICEACCOUNTS; RoleBinding defaults fill in the RBAC apiGroup (R16.14)."""
    _reader(kubectl, "rb-get")
    out = kubectl("get", "roles", "-n", "rb-get").stdout
    assert header(out) == ["NAME", "CREATED", "AT"] and rows(out)[0][0] == "pod-reader"
    assert rows(out)[0][1].endswith("Z")
    out = kubectl("get", "rolebindings", "-n", "rb-get", "-o", "wide").stdout
    assert header(out) == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    # the printer writes the subject's own namespace, which this binding leaves to the binding's
    assert rows(out)[0][:2] == ["read-pods", "Role/pod-reader"] and rows(out)[0][3:] == ["alice", "auditors", "/reader"]
    ref = kubectl("get", "rolebinding", "read-pods", "-n", "rb-get", "-o", "jsonpath={.roleRef.apiGroup}"
                  "{.subjects[1].apiGroup}").stdout
    assert ref == "rbac.authorization.k8s.iorbac.authorization.k8s.io"


def test_default_cluster_roles_are_there_and_view_is_aggregated(kubectl) -> None:
    """R16.13: cluster-admin bound to system:masters; view/edit/admin collect their aggregate-to roles."""
    out = kubectl("get", "clusterrolebinding", "cluster-admin", "-o", "wide").stdout
    assert rows(out)[0][:2] == ["cluster-admin", "ClusterRole/cluster-admin"] and "system:masters" in out
    kubectl("wait", "--for=jsonpath={.rules[0].verbs[0]}=get", "clusterrole/view", "--timeout=30s")
    edit = kubectl("get", "clusterrole", "edit", "-o", "jsonpath={.rules[*].resources}").stdout
    assert "secrets" in edit and "cronjobs" in edit  # edit = view's rules + its own


def test_can_i_answers_yes_for_the_token_user(kubectl) -> None:
    """R16.11: the token's user is in system:masters; authorization is allow-all for it."""
    assert kubectl("auth", "can-i", "create", "clusterrolebindings").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "jobs.batch", "-n", "anything").stdout.strip() == "yes"
    r = kubectl("auth", "can-i", "get", "rolebindings.rbac.authorization.k8s.io")
    assert r.stdout.strip() == "yes" and "Warning" not in r.stderr  # the resource type is known


def test_can_i_as_a_service_account_follows_its_role_binding(kubectl) -> None:
    """R16.12: with --as, the SelfSubjectAccessReview is answered by RBAC for that identity."""
    _reader(kubectl, "rb-can")
    sa = ["--as", SA.format(ns="rb-can"), "-n", "rb-can"]
    assert kubectl("auth", "can-i", "list", "pods", *sa).stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "get", "pods", "--subresource=log", *sa).stdout.strip() == "yes"
    r = kubectl("auth", "can-i", "delete", "pods", *sa, ok=False)
    assert r.returncode == 1 and r.stdout.strip() == "no"
    assert kubectl("auth", "can-i", "list", "pods", "-n", "default", "--as", SA.format(ns="rb-can"),
                   ok=False).stdout.strip() == "no"
    assert kubectl("auth", "can-i", "list", "pods", "-n", "rb-can", "--as", "bob", "--as-group", "auditors"
                   ).stdout.strip() == "yes"


def test_impersonated_requests_are_authorized_by_rbac(kubectl) -> None:
    """R16.11: an impersonated identity gets what RBAC allows, and the API server's 403 otherwise."""
    _reader(kubectl, "rb-imp")
    sa = ["--as", SA.format(ns="rb-imp"), "-n", "rb-imp"]
    assert kubectl("get", "pods", *sa).returncode == 0
    r = kubectl("get", "secrets", *sa, ok=False)
    assert r.stderr.strip() == ('Error from server (Forbidden): secrets is forbidden: User '
                                '"system:serviceaccount:rb-imp:reader" cannot list resource "secrets" in API group '
                                '"" in the namespace "rb-imp"')
    r = kubectl("delete", "role", "pod-reader", *sa, ok=False)
    assert 'roles.rbac.authorization.k8s.io "pod-reader" is forbidden: User' in r.stderr


def test_binding_to_the_view_cluster_role_allows_reading_apps(kubectl) -> None:
    """R16.12/R16.13: a RoleBinding to the aggregated view ClusterRole reads, and does not write."""
    kubectl("create", "namespace", "rb-view")
    kubectl("create", "rolebinding", "viewers", "--clusterrole=view", "--user=carol", "-n", "rb-view")
    as_carol = ["--as", "carol", "-n", "rb-view"]
    kubectl("wait", "--for=jsonpath={.rules[0].verbs[0]}=get", "clusterrole/view", "--timeout=30s")
    assert kubectl("auth", "can-i", "list", "deployments.apps", *as_carol).stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "create", "deployments.apps", *as_carol, ok=False).stdout.strip() == "no"
    assert kubectl("auth", "can-i", "get", "secrets", *as_carol, ok=False).stdout.strip() == "no"


def test_can_i_list_shows_the_rules(kubectl) -> None:
    """R16.10: SelfSubjectRulesReview: the token's user has *.*; an impersonated one its Role's rules."""
    assert "*.*" in kubectl("auth", "can-i", "--list").stdout
    _reader(kubectl, "rb-list")
    out = kubectl("auth", "can-i", "--list", "-n", "rb-list", "--as", SA.format(ns="rb-list")).stdout
    line = next(r for r in out.splitlines() if r.startswith("pods "))
    assert line.split() == ["pods", "[]", "[]", "[get", "list", "watch]"]
    assert any(r.startswith("pods/log") for r in out.splitlines())


def test_auth_whoami_names_the_token_user(kubectl) -> None:
    """R16.10: SelfSubjectReview (authentication.k8s.io/v1): kubernetes-admin in system:masters."""
    out = kubectl("auth", "whoami").stdout
    assert rows(out) == [["Username", "kubernetes-admin"], ["Groups", "[system:masters", "system:authenticated]"]]
    out = kubectl("auth", "whoami", "--as", "dave", "--as-group", "devs").stdout
    assert rows(out) == [["Username", "dave"], ["Groups", "[devs", "system:authenticated]"]]


def test_api_resources_lists_the_new_groups_as_a_cluster_does(kubectl) -> None:
    """R16.9: the rbac, authorization and authentication groups, with scopes, kinds and verbs."""
    out = kubectl("api-resources", "--api-group=rbac.authorization.k8s.io").stdout
    assert rows(out) == [
        ["clusterrolebindings", "rbac.authorization.k8s.io/v1", "false", "ClusterRoleBinding"],
        ["clusterroles", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"],
        ["rolebindings", "rbac.authorization.k8s.io/v1", "true", "RoleBinding"],
        ["roles", "rbac.authorization.k8s.io/v1", "true", "Role"]]
    out = kubectl("api-resources", "--api-group=authorization.k8s.io", "-o", "wide").stdout
    assert [r[0] for r in rows(out)] == ["localsubjectaccessreviews", "selfsubjectaccessreviews",
                                         "selfsubjectrulesreviews", "subjectaccessreviews"]
    assert all(r[-1] == "create" for r in rows(out))
    assert rows(kubectl("api-resources", "--api-group=authentication.k8s.io").stdout)[0][0] == "selfsubjectreviews"


# R16.9: every resource this issue serves, as ``kubectl auth can-i`` names it (resource, subresource)
NEW_RESOURCES = [("jobs.batch", ""), ("jobs.batch", "status"), ("cronjobs.batch", ""), ("cj", ""),
                 ("replicationcontrollers", ""), ("rc", "scale"), ("roles.rbac.authorization.k8s.io", ""),
                 ("rolebindings.rbac.authorization.k8s.io", ""), ("clusterroles.rbac.authorization.k8s.io", ""),
                 ("clusterrolebindings.rbac.authorization.k8s.io", "")]


@pytest.mark.parametrize("resource,sub", NEW_RESOURCES, ids=[f"{r}/{s}" if s else r for r, s in NEW_RESOURCES])
def test_can_i_knows_each_newly_served_resource(kubectl, resource, sub) -> None:
    """R16.9/R16.11/R16.12: kubectl resolves the name through discovery (no "doesn't have a resource
    type" warning; for a cluster-scoped one, kubectl's own "not namespace scoped" note, as on a
    cluster); the token's user may, an identity without bindings may not (exit 1)."""
    args = ["auth", "can-i", "update", resource, *([f"--subresource={sub}"] if sub else [])]
    for r in (kubectl(*args), kubectl(*args, "--as", "nobody", ok=False)):
        assert "doesn't have a resource type" not in r.stderr
        cluster_scoped = resource.startswith("cluster")
        assert ("is not namespace scoped in group 'rbac.authorization.k8s.io'" in r.stderr) == cluster_scoped
    assert kubectl(*args).stdout.strip() == "yes"
    r = kubectl(*args, "--as", "nobody", ok=False)
    assert r.returncode == 1 and r.stdout.strip() == "no"


def test_kubectl_watch_shows_a_role_binding_and_its_deletion(sim, kubectl, tmp_path) -> None:
    """A watch with Tables (kubectl get -w) prints the binding's row, then its DELETED event when
    ``kubectl delete`` (which prints the qualified kind) removes it."""
    _reader(kubectl, "rb-watch")
    deleted: list[str] = []

    def done(lines: list[str]) -> bool:
        if len(lines) >= 2 and not deleted:  # the header and the binding's row: now delete it
            deleted.append(kubectl("delete", "rolebinding", "read-pods", "-n", "rb-watch").stdout.strip())
        return any(line.startswith("DELETED") for line in lines)
    lines = kubectl_watch_until(sim, tmp_path, ["get", "rolebinding", "read-pods", "-n", "rb-watch", "-w",
                                                "--output-watch-events"], done)
    assert lines[0].split()[:3] == ["EVENT", "NAME", "ROLE"]
    assert lines[1].split()[:3] == ["ADDED", "read-pods", "Role/pod-reader"]
    assert deleted == ['rolebinding.rbac.authorization.k8s.io "read-pods" deleted']
    assert lines[-1].split()[:3] == ["DELETED", "read-pods", "Role/pod-reader"]


def test_role_ref_cannot_change(kubectl) -> None:
    """R16.14: ValidateRoleBindingUpdate: 422, cannot change roleRef."""
    _reader(kubectl, "rb-ref")
    changed = READER.replace("NS", "rb-ref").replace("roleRef: {kind: Role, name: pod-reader}",
                                                     "roleRef: {kind: ClusterRole, name: view}")
    r = kubectl("apply", "-f", "-", stdin=changed, ok=False)
    assert ('The RoleBinding "read-pods" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:'
            '"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"view"}: cannot change roleRef') in r.stderr


def test_invalid_rules_and_role_refs_are_refused(kubectl) -> None:
    """R16.14: ValidatePolicyRule and the roleRef kinds."""
    bad = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bad-crb}
roleRef: {kind: Role, name: x}
subjects: [{kind: ServiceAccount, name: sa}]
"""
    r = kubectl("apply", "-f", "-", stdin=bad, ok=False)
    assert 'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"' in r.stderr
    assert "subjects[0].namespace: Required value" in r.stderr
    mixed = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: mixed, namespace: default}
rules: [{verbs: [get], apiGroups: [""], resources: [pods], nonResourceURLs: [/healthz]}, {resources: [pods]}]
"""
    r = kubectl("apply", "-f", "-", stdin=mixed, ok=False)
    assert "rules[0].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to " \
           "non-resource URLs" in r.stderr
    assert "rules[1].verbs: Required value: verbs must contain at least one value" in r.stderr
    assert "rules[1].apiGroups: Required value: resource rules must supply at least one api group" in r.stderr


def test_python_client_creates_watches_and_deletes_rbac_objects(client, kubectl) -> None:
    """The kubernetes client: RbacAuthorizationV1Api create/list/watch/delete; deletes answer a Status."""
    kubectl("create", "namespace", "rb-py")
    api = k8s.RbacAuthorizationV1Api(client)
    api.create_namespaced_role("rb-py", {"metadata": {"name": "r"}, "rules": [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}]})
    api.create_namespaced_role_binding("rb-py", {"metadata": {"name": "rb"},
                                                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                             "name": "r"},
                                                 "subjects": [{"kind": "User", "name": "erin"}]})
    seen = []
    for ev in watch.Watch().stream(api.list_namespaced_role_binding, "rb-py", timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name, ev["object"].role_ref.name))
        if ev["type"] == "DELETED":
            break
        api.delete_namespaced_role_binding("rb", "rb-py")
    assert seen == [("ADDED", "rb", "r"), ("DELETED", "rb", "r")]
    out = api.delete_namespaced_role("r", "rb-py")
    assert out["status"] == "Success" and out["details"]["kind"] == "roles"
    assert out["details"]["group"] == "rbac.authorization.k8s.io"
    crb = api.create_cluster_role_binding({"metadata": {"name": "py-crb"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "name": "readers"}]})
    assert crb.subjects[0].api_group == "rbac.authorization.k8s.io"
    assert [b.metadata.name for b in api.list_cluster_role_binding().items if b.metadata.name == "py-crb"]


def test_python_client_access_reviews(client, kubectl) -> None:
    """R16.10/R16.12: SelfSubjectAccessReview for the token; SubjectAccessReview and
    LocalSubjectAccessReview for another user, with the RBAC reason."""
    _reader(kubectl, "rb-sar")
    authz = k8s.AuthorizationV1Api(client)
    mine = authz.create_self_subject_access_review({"spec": {"resourceAttributes": {
        "verb": "delete", "resource": "nodes"}}})
    assert mine.status.allowed is True and mine.status.reason is None
    sar = authz.create_subject_access_review({"spec": {"user": "alice", "resourceAttributes": {
        "namespace": "rb-sar", "verb": "list", "resource": "pods"}}})
    assert sar.status.allowed is True
    assert sar.status.reason == ('RBAC: allowed by RoleBinding "read-pods/rb-sar" of Role "pod-reader" to User '
                                 '"alice"')
    lsar = authz.create_namespaced_local_subject_access_review("rb-sar", {"spec": {
        "user": "alice", "resourceAttributes": {"verb": "create", "resource": "pods"}}})
    assert lsar.status.allowed is False and lsar.spec.resource_attributes.namespace == "rb-sar"
    with pytest.raises(ApiException) as exc:
        authz.create_subject_access_review({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}})
    assert exc.value.status == 422


# R16.16: the typed create commands, and what the object must say once stored
TYPED_CREATES = [
    (["role", "pb-role", "--verb=get", "--resource=pods", "-n", "default"],
     ["role", "pb-role", "-n", "default", "-o", "jsonpath={.rules[0].verbs[0]}/{.rules[0].resources[0]}"], "get/pods"),
    (["rolebinding", "pb-rb", "--clusterrole=view", "--user=ann", "-n", "default"],
     ["rolebinding", "pb-rb", "-n", "default", "-o", "jsonpath={.roleRef.name}/{.subjects[0].name}"], "view/ann"),
    (["clusterrole", "pb-cr", "--verb=list", "--resource=nodes"],
     ["clusterrole", "pb-cr", "-o", "jsonpath={.rules[0].verbs[0]}/{.rules[0].resources[0]}"], "list/nodes"),
    (["clusterrolebinding", "pb-crb", "--clusterrole=view", "--group=auditors"],
     ["clusterrolebinding", "pb-crb", "-o", "jsonpath={.roleRef.name}/{.subjects[0].name}"], "view/auditors"),
    (["job", "pb-job", "--image=busybox:1.36", "-n", "default", "--", "true"],
     ["job", "pb-job", "-n", "default", "-o", "jsonpath={.spec.template.spec.containers[0].command[0]}/"
      "{.spec.template.spec.restartPolicy}"], "true/Never"),
    (["cronjob", "pb-cj", "--image=busybox:1.36", "--schedule=*/5 * * * *", "-n", "default", "--", "true"],
     ["cronjob", "pb-cj", "-n", "default", "-o", "jsonpath={.spec.schedule}/{.spec.jobTemplate.spec.template.spec."
      "restartPolicy}"], "*/5 * * * */OnFailure"),
]


@pytest.mark.parametrize("create,get,expected", TYPED_CREATES, ids=[c[0][0] for c in TYPED_CREATES])
def test_kubectl_1_33_typed_create_sends_protobuf_the_server_decodes(sim, kubectl, tmp_path, create, get,
                                                                      expected) -> None:
    """R16.16: kubectl 1.33's typed create commands POST protobuf (measured with -v=9); the server
    stores the object they describe."""
    found = shutil.which("kubectl")
    path = Path(os.path.realpath(found)).parent / "kubectl.1.33" if found else None
    if path is None or not path.exists():
        pytest.skip("kubectl.1.33 is not installed")
    r = subprocess.run([str(path), "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(tmp_path), "-v=9",
                        "create", *create], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    post = next(line for line in r.stderr.splitlines() if "-XPOST" in line)
    assert 'Content-Type: application/vnd.kubernetes.protobuf"' in post
    assert kubectl("get", *get).stdout == expected
