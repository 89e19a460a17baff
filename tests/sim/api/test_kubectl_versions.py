"""A smoke over the versioned kubectl binaries beside the gcloud dispatcher (1.27–1.33): discovery,
get, apply (1.27/1.28 need --validate=false: they want a protobuf OpenAPI v2), label, delete.
1.32+ send protobuf bodies for `kubectl create namespace`; the server answers 415 with a hint."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.kubectl

_KUBECTL = shutil.which("kubectl")
_DIR = Path(os.path.realpath(_KUBECTL)).parent if _KUBECTL else None
VERSIONS = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"]


def binary(v: str) -> str:
    path = _DIR / f"kubectl.{v}" if _DIR else None
    if path is None or not path.exists():
        pytest.skip(f"kubectl.{v} is not installed")
    return str(path)


@pytest.mark.parametrize("version", VERSIONS)
def test_versioned_kubectl_gets_applies_labels_and_deletes(kubectl, version):
    b = binary(version)
    name = "v" + version.replace(".", "-")
    validate = ["--validate=false"] if version in ("1.27", "1.28") else []
    cm = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: demo}}\ndata: {{a: b}}\n"
    out = kubectl("apply", *validate, "-f", "-", stdin=cm, binary=b).stdout
    assert out.strip() == f"configmap/{name} created"
    assert kubectl("apply", *validate, "-f", "-", stdin=cm, binary=b).stdout.strip() == f"configmap/{name} unchanged"
    assert kubectl("label", "cm", name, "-n", "demo", "v=1", binary=b).stdout.strip() == f"configmap/{name} labeled"
    rows = kubectl("get", "pods", "-n", "demo", "-l", "app=web", binary=b).stdout.splitlines()
    assert [r.split()[0] for r in rows[1:]] == ["web-1", "web-2"]
    assert kubectl("delete", "cm", name, "-n", "demo", binary=b).stdout.strip() == f'configmap "{name}" deleted'


@pytest.mark.parametrize("version", ["1.32", "1.33"])
def test_protobuf_creates_from_newer_kubectl_are_decoded(kubectl, version):
    """§2.4: kubectl ≥ 1.32 sends protobuf for typed creates; the server reads these four kinds."""
    b, sfx = binary(version), version.replace(".", "-")
    ns = f"pb-{sfx}"
    assert kubectl("create", "namespace", ns, binary=b).stdout.strip() == f"namespace/{ns} created"
    kubectl("create", "configmap", "cm", "-n", ns, "--from-literal=a=b", binary=b)
    kubectl("create", "secret", "generic", "s", "-n", ns, "--from-literal=k=v", binary=b)
    out = kubectl("create", "deployment", "web", "-n", ns, "--image=x/y:1", "--replicas=2", "--port=8080", binary=b)
    assert out.stdout.strip() == "deployment.apps/web created"
    assert kubectl("get", "cm", "cm", "-n", ns, "-o", "jsonpath={.data.a}").stdout == "b"
    assert kubectl("get", "secret", "s", "-n", ns, "-o", "jsonpath={.data.k}").stdout == "dg=="
    spec = kubectl("get", "deploy", "web", "-n", ns, "-o",
                   "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort}").stdout
    assert spec == "2 8080"


def test_protobuf_of_another_kind_is_415_saying_to_use_apply(api_post_protobuf):
    code, body = api_post_protobuf
    assert code == 415 and "kubectl apply -f" in body["message"]


@pytest.fixture
def api_post_protobuf(sim):
    import http.client
    import json
    import ssl
    ctx = ssl.create_default_context(cadata=sim.ca_pem.decode())
    c = http.client.HTTPSConnection("127.0.0.1", sim.port, context=ctx, timeout=10)
    env = b"k8s\x00\x0a\x0b\x0a\x02v1\x12\x05Event\x12\x00"
    c.request("POST", "/api/v1/namespaces/demo/events", body=env, headers={
        "Authorization": f"Bearer {sim.token}", "Content-Type": "application/vnd.kubernetes.protobuf"})
    r = c.getresponse()
    return r.status, json.loads(r.read())
