"""The real kubectl changing things in the simulator: apply (client- and server-side), label,
annotate, scale, create, delete, wait and watch. Each test reads back what kubectl printed, and
where a field matters, the object itself."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

pytestmark = pytest.mark.kubectl

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: demo
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: mccutchen/go-httpbin:v2.15.0
        env:
{env}
"""


def deploy(name: str, replicas: int = 1, env: dict[str, str] | None = None) -> str:
    env = env if env is not None else {"A": "1"}
    body = "\n".join(f"        - {{name: {k}, value: \"{v}\"}}" for k, v in env.items()) or "        []"
    if not env:
        return DEPLOY.format(name=name, replicas=replicas, env="").replace("        env:\n", "")
    return DEPLOY.format(name=name, replicas=replicas, env=body)



def env_of(kubectl, name: str) -> dict[str, str]:
    doc = json.loads(kubectl("get", "deploy", name, "-n", "demo", "-o", "json").stdout)
    return {e["name"]: e.get("value") for e in doc["spec"]["template"]["spec"]["containers"][0].get("env", [])}


def test_client_side_apply_creates_then_unchanged_then_configured_then_drops_removed_field(kubectl):
    out = kubectl("apply", "-f", "-", stdin=deploy("csa", env={"A": "1", "B": "2"})).stdout
    assert out.strip() == "deployment.apps/csa created"
    out = kubectl("apply", "-f", "-", stdin=deploy("csa", env={"A": "1", "B": "2"})).stdout
    assert out.strip() == "deployment.apps/csa unchanged"
    out = kubectl("apply", "-f", "-", stdin=deploy("csa", replicas=2, env={"A": "1", "B": "2"})).stdout
    assert out.strip() == "deployment.apps/csa configured"
    kubectl("apply", "-f", "-", stdin=deploy("csa", replicas=2, env={"B": "2"}))
    assert env_of(kubectl, "csa") == {"B": "2"}
    gen = kubectl("get", "deploy", "csa", "-n", "demo", "-o", "jsonpath={.metadata.generation}").stdout
    assert gen == "3"


def test_server_side_apply_creates_updates_and_removes_a_dropped_field(kubectl):
    out = kubectl("apply", "--server-side", "-f", "-", stdin=deploy("ssa", env={"A": "1", "B": "2"})).stdout
    assert out.strip() == "deployment.apps/ssa serverside-applied"
    kubectl("apply", "--server-side", "-f", "-", stdin=deploy("ssa", env={"B": "3"}))
    assert env_of(kubectl, "ssa") == {"B": "3"}
    managers = kubectl("get", "deploy", "ssa", "-n", "demo", "--show-managed-fields", "-o",
                       "jsonpath={.metadata.managedFields[*].manager}").stdout.split()
    assert "kubectl" in managers


def test_server_side_apply_conflict_is_409_naming_the_other_manager(kubectl):
    kubectl("apply", "--server-side", "-f", "-", stdin=deploy("owned", replicas=1))
    r = kubectl("apply", "--server-side", "--field-manager", "intruder", "-f", "-",
                stdin=deploy("owned", replicas=3), ok=False)
    assert "conflict" in r.stderr.lower() and "kubectl" in r.stderr and "replicas" in r.stderr
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "intruder", "-f", "-",
            stdin=deploy("owned", replicas=3))
    assert kubectl("get", "deploy", "owned", "-n", "demo", "-o", "jsonpath={.spec.replicas}").stdout == "3"


def test_strict_field_validation_rejects_unknown_fields(kubectl):
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, namespace: demo}\nbogus: 1\ndata: {a: b}\n"
    r = kubectl("apply", "-f", "-", stdin=bad, ok=False)
    assert 'strict decoding error: unknown field "bogus"' in r.stderr
    r = kubectl("get", "cm", "bad", "-n", "demo", ok=False)
    assert "NotFound" in r.stderr


def test_invalid_name_is_422_with_the_dns_1123_message(kubectl):
    r = kubectl("create", "namespace", "Bad_Name", ok=False)
    assert 'The Namespace "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in r.stderr
    assert "RFC 1123 label" in r.stderr


def test_create_namespace_and_configmap_then_already_exists(kubectl):
    assert kubectl("create", "namespace", "made").stdout.strip() == "namespace/made created"
    out = kubectl("create", "configmap", "cfg", "-n", "made", "--from-literal=k=v").stdout
    assert out.strip() == "configmap/cfg created"
    assert kubectl("get", "cm", "cfg", "-n", "made", "-o", "jsonpath={.data.k}").stdout == "v"
    r = kubectl("create", "configmap", "cfg", "-n", "made", "--from-literal=k=v", ok=False)
    assert 'failed to create configmap: configmaps "cfg" already exists' in r.stderr


def test_create_in_missing_namespace_is_not_found(kubectl):
    r = kubectl("create", "configmap", "x", "-n", "nowhere", ok=False)
    assert 'namespaces "nowhere" not found' in r.stderr


def test_label_overwrite_and_remove(kubectl):
    kubectl("create", "configmap", "lab", "-n", "demo")
    assert kubectl("label", "cm", "lab", "-n", "demo", "env=dev").stdout.strip() == "configmap/lab labeled"
    r = kubectl("label", "cm", "lab", "-n", "demo", "env=prod", ok=False)
    assert "--overwrite is false" in r.stderr
    kubectl("label", "cm", "lab", "-n", "demo", "env=prod", "--overwrite")
    assert kubectl("get", "cm", "-n", "demo", "-l", "env=prod", "-o", "name").stdout.split() == ["configmap/lab"]
    kubectl("label", "cm", "lab", "-n", "demo", "env-")
    assert kubectl("get", "cm", "lab", "-n", "demo", "-o", "jsonpath={.metadata.labels}").stdout in ("", "{}")


def test_annotate_sets_an_annotation(kubectl):
    kubectl("create", "configmap", "ann", "-n", "demo")
    out = kubectl("annotate", "cm", "ann", "-n", "demo", "note=hello").stdout
    assert out.strip() == "configmap/ann annotated"
    assert kubectl("get", "cm", "ann", "-n", "demo", "-o", "jsonpath={.metadata.annotations.note}").stdout == "hello"


def test_scale_deployment_through_the_scale_subresource(kubectl):
    kubectl("apply", "-f", "-", stdin=deploy("scaled"))
    assert kubectl("scale", "deploy", "scaled", "-n", "demo", "--replicas=4").stdout.strip() == \
        "deployment.apps/scaled scaled"
    assert kubectl("get", "deploy", "scaled", "-n", "demo", "-o", "jsonpath={.spec.replicas}").stdout == "4"


def test_delete_by_selector_without_wait_marks_scheduled_pods_terminating(kubectl, sim):
    from ambient_lb.sim.store import GR
    out = kubectl("delete", "pod", "-n", "other", "-l", "app=db", "--wait=false").stdout
    assert out.strip() == 'pod "db-1" deleted'
    doc = json.loads(kubectl("get", "pod", "db-1", "-n", "other", "-o", "json").stdout)
    assert doc["metadata"]["deletionGracePeriodSeconds"] == 30 and doc["metadata"]["deletionTimestamp"]
    sim.call(lambda: sim.cluster.store.remove(GR("", "pods"), "other", "db-1"))  # what the kubelet does (R6.1)


def test_delete_configmaps_by_selector_removes_them(kubectl):
    for n in ("d1", "d2"):
        kubectl("create", "configmap", n, "-n", "demo")
        kubectl("label", "cm", n, "-n", "demo", "gone=yes")
    out = kubectl("delete", "cm", "-n", "demo", "-l", "gone=yes").stdout
    assert sorted(out.strip().splitlines()) == ['configmap "d1" deleted', 'configmap "d2" deleted']
    assert "No resources found" in kubectl("get", "cm", "-n", "demo", "-l", "gone=yes").stderr


def test_wait_for_jsonpath_returns_when_the_value_matches(kubectl):
    kubectl("apply", "-f", "-", stdin=deploy("waited", replicas=2))
    out = kubectl("wait", "deploy/waited", "-n", "demo", "--for=jsonpath={.spec.replicas}=2", "--timeout=20s").stdout
    assert out.strip() == "deployment.apps/waited condition met"


def test_get_watch_prints_a_new_object_then_ends_when_stopped(kubectl, sim):
    argv = ["kubectl", "--kubeconfig", str(sim.kubeconfig), "get", "cm", "-n", "watched", "-w",
            "--request-timeout=0"]
    kubectl("create", "namespace", "watched")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    got = threading.Event()

    def reader() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if "later" in line:
                got.set()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        # the watch is open once the list came back empty ("No resources found" on stderr is not
        # printed for -w); create until the watcher reports it, bounded by the event's timeout
        kubectl("create", "configmap", "later", "-n", "watched")
        assert got.wait(20), f"kubectl get -w printed {seen!r}"
    finally:
        proc.terminate()
        proc.wait(10)
    assert seen[-1].split()[0] == "later"


def test_warn_field_validation_drops_unknown_fields_and_kubectl_prints_the_warning(kubectl):
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: warned, namespace: demo}\nbogus: 1\n"
    r = kubectl("apply", "--validate=warn", "-f", "-", stdin=cm)
    assert 'unknown field "bogus"' in r.stderr
    doc = json.loads(kubectl("get", "cm", "warned", "-n", "demo", "-o", "json").stdout)
    assert "bogus" not in doc  # pruned (it stays only inside the last-applied annotation, as on a cluster)
