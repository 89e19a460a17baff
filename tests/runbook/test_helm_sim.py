"""helm.py on target sim, end to end: the simulator's chart stand-ins applied with the real kubectl,
release Secrets helm would write, upgrade revisions, uninstall."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator

import pytest

from ambient_lb.errors import NotFound
from ambient_lb.helm import Helm, decode_release
from ambient_lb.kube import Kube
from ambient_lb.shell import CommandLog, Secret

process = pytest.importorskip("ambient_lb.sim.process")
manifests = pytest.importorskip("ambient_lb.manifests")
pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")]

CANARY = "CANARY-SIM-LICENSE-88"
CHARTS = "oci://us-docker.pkg.dev/solo-public/enterprise-kgateway/charts"
NS = "kgateway-system"


@pytest.fixture(scope="module")
def helm() -> Iterator[Helm]:
    with process.running_simulator(seed=2, speed=50) as sim:
        kube = Kube("ambient-lb-sim", sim.kubeconfig, timeout=60)
        kube.apply(file=manifests.GATEWAY_API_CRDS, server_side=True)
        yield Helm(kube, standin=True)


def install(helm: Helm) -> None:
    helm.upgrade_install("enterprise-kgateway-crds", f"{CHARTS}/enterprise-kgateway-crds", version="2.2.0-rc.2",
                         namespace=NS, create_namespace=True)
    helm.upgrade_install("enterprise-kgateway", f"{CHARTS}/enterprise-kgateway", version="2.2.0-rc.2",
                         namespace=NS, set_values={"controller.extraEnv.KGW_ENABLE_ISTIO_INTEGRATION": True},
                         secret_values={"licensing.licenseKey": Secret(CANARY, "LICENSE_KEY")})


def test_install_runs_the_control_plane_and_records_releases(helm: Helm) -> None:
    with CommandLog() as log:
        install(helm)
    assert [line.split()[3] for line in log.lines()] == ["enterprise-kgateway-crds", "enterprise-kgateway"]
    assert "--set-string licensing.licenseKey=${LICENSE_KEY}" in log.lines()[1]
    helm.kube.rollout_status("deployment", "enterprise-kgateway", namespace=NS, timeout=60)
    status = helm.status("enterprise-kgateway", namespace=NS)
    assert (status.revision, status.status, status.version) == (1, "deployed", "2.2.0-rc.2")
    env = helm.kube.read("deployment", "enterprise-kgateway", NS)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "KGW_ENABLE_ISTIO_INTEGRATION", "value": "true"} in env


def test_release_secrets_hold_no_license(helm: Helm) -> None:
    secrets = helm.kube.items("secret", NS, selector="owner=helm")
    assert secrets and all(s["type"] == "helm.sh/release.v1" for s in secrets)
    encoded = base64.b64encode(CANARY.encode()).decode()
    for s in secrets:
        text = json.dumps(s) + json.dumps(decode_release(s))
        assert CANARY not in text and encoded not in text


def test_upgrade_again_bumps_revision(helm: Helm) -> None:
    install(helm)
    assert helm.status("enterprise-kgateway", namespace=NS).revision == 2
    labels = sorted((s["metadata"]["labels"]["version"], s["metadata"]["labels"]["status"])
                    for s in helm.kube.items("secret", NS, selector="owner=helm,name=enterprise-kgateway"))
    assert labels == [("1", "superseded"), ("2", "deployed")]


def test_uninstall_removes_release_and_objects(helm: Helm) -> None:
    helm.uninstall("enterprise-kgateway", namespace=NS)
    helm.kube.wait_for_deletion("deployment", "enterprise-kgateway", NS, timeout=60)
    with pytest.raises(NotFound):
        helm.status("enterprise-kgateway", namespace=NS)
