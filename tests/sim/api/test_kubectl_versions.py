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
def test_protobuf_create_from_newer_kubectl_says_to_use_apply(kubectl, version):
    r = kubectl("create", "namespace", "pb-" + version.replace(".", "-"), binary=binary(version), ok=False)
    assert "kubectl apply -f" in r.stderr
