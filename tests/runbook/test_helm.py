"""helm.py: upgrade --install without the license on argv, uninstall guard, status, and the sim seam."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ambient_lb import shell
from ambient_lb.errors import ClusterError, ContextMismatch, NotFound
from ambient_lb.helm import Helm, decode_release, release_secret
from ambient_lb.kube import Kube
from ambient_lb.shell import CommandLog, Secret

from .conftest import FakeTools

CANARY = "CANARY-LICENSE-5d1e"
LICENSE = Secret(CANARY, "LICENSE_KEY")
CHART = "oci://us-docker.pkg.dev/solo-public/enterprise-kgateway/charts/enterprise-kgateway"


@pytest.fixture
def helm(kubeconfig: Path) -> Helm:
    return Helm(Kube("kind-ambient", kubeconfig))


def install(helm: Helm, values_file: Path | None = None) -> shell.CommandResult:
    return helm.upgrade_install("enterprise-kgateway", CHART, version="2.2.0-rc.2", namespace="kgateway-system",
                                values_files=[values_file] if values_file else [],
                                secret_values={"licensing.licenseKey": LICENSE})


def test_license_reaches_helm_through_a_private_values_file(helm: Helm, fake_tools: FakeTools,
                                                            tmp_path: Path) -> None:
    """The argv helm receives (what ps shows) never holds the key; the file is 0600 in a 0700 dir."""
    values = tmp_path / "enterprise-kgateway.yaml"
    values.write_text("controller:\n  extraEnv:\n    KGW_ENABLE_ISTIO_INTEGRATION: true\n")
    install(helm, values)
    call = fake_tools.last()
    assert not any(CANARY in arg for arg in call["argv"])
    secret_files = {p: f for p, f in call["files"].items() if p != str(values)}
    (path, info), = secret_files.items()
    assert info["mode"] == "0o600" and info["dir_mode"] == "0o700"
    assert yaml.safe_load(info["text"]) == {"licensing": {"licenseKey": CANARY}}
    assert not Path(path).exists() and not Path(path).parent.exists()


def test_helm_argv_and_display_follow_the_guide(helm: Helm, fake_tools: FakeTools, tmp_path: Path) -> None:
    values = tmp_path / "enterprise-kgateway.yaml"
    values.write_text("{}\n")
    with CommandLog() as log:
        install(helm, values)
    argv = fake_tools.argv()
    assert argv[:9] == ["upgrade", "-i", "enterprise-kgateway", CHART, "-n", "kgateway-system",
                        "--version", "2.2.0-rc.2", "-f"]
    assert argv[9] == str(values)
    assert argv[10] == "-f" and argv[11].endswith("secret-values.yaml") and len(argv) == 12
    assert fake_tools.last()["kubeconfig"] == str(helm.kube.kubeconfig)  # as after `export KUBECONFIG`
    assert log.lines()[0] == (
        f"helm upgrade -i enterprise-kgateway {CHART} -n kgateway-system --version 2.2.0-rc.2 "
        f"--set-string licensing.licenseKey=${{LICENSE_KEY}} -f {values}")
    assert CANARY not in log.as_text()


def test_helm_reads_a_relative_values_file_from_its_working_directory(helm: Helm, fake_tools: FakeTools,
                                                                      tmp_path: Path) -> None:
    """``-f enterprise-kgateway.yaml`` as the guide types it, run where the file was written."""
    (tmp_path / "enterprise-kgateway.yaml").write_text("{}\n")
    with CommandLog() as log:
        helm.upgrade_install("enterprise-kgateway", CHART, namespace="kgateway-system",
                             values_files=["enterprise-kgateway.yaml"], cwd=tmp_path)
    assert fake_tools.argv()[-2:] == ["-f", "enterprise-kgateway.yaml"]
    assert fake_tools.last()["cwd"] == str(tmp_path)
    assert log.lines()[0].endswith(" -f enterprise-kgateway.yaml")


def test_helm_refuses_to_run_while_another_context_is_current(kubeconfig: Path, fake_tools: FakeTools) -> None:
    from .conftest import write_kubeconfig

    write_kubeconfig(kubeconfig, {"kind-ambient": "https://127.0.0.1:6443", "prod": "https://10.0.0.1:443"},
                     current="prod")
    with pytest.raises(ContextMismatch, match="kubectl config use-context kind-ambient"):
        install(Helm(Kube("kind-ambient", kubeconfig)))
    assert fake_tools.calls() == []


def test_crds_install_with_create_namespace_and_set_flags(helm: Helm, fake_tools: FakeTools) -> None:
    helm.upgrade_install("enterprise-kgateway-crds", CHART + "-crds", version="2.2.0-rc.2",
                         namespace="kgateway-system", create_namespace=True,
                         set_values={"installExtAuthCRDs": False}, set_string_values={"a.b": "007"})
    assert fake_tools.argv()[:12] == ["upgrade", "-i", "enterprise-kgateway-crds", CHART + "-crds",
                                      "--create-namespace", "-n", "kgateway-system", "--version", "2.2.0-rc.2",
                                      "--set", "installExtAuthCRDs=false", "--set-string"]
    assert fake_tools.argv()[12] == "a.b=007"


def test_helm_error_echoing_the_key_is_redacted(helm: Helm, fake_tools: FakeTools,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_RC", "1")
    monkeypatch.setenv("FAKE_STDERR", f"Error: invalid license {CANARY}\n")
    with pytest.raises(ClusterError) as info:
        install(helm)
    assert CANARY not in str(info.value)
    assert "invalid license ${LICENSE_KEY}" in str(info.value)


def test_uninstall_is_guarded_and_pinned(kubeconfig: Path, fake_tools: FakeTools) -> None:
    Helm(Kube("kind-ambient", kubeconfig)).uninstall("enterprise-kgateway", namespace="kgateway-system")
    assert fake_tools.argv()[:4] == ["uninstall", "enterprise-kgateway", "-n", "kgateway-system"]
    wrong = Helm(Kube("prod", kubeconfig, expected_context="kind-ambient"))
    calls = len(fake_tools.calls())
    with pytest.raises(ContextMismatch):
        wrong.uninstall("enterprise-kgateway", namespace="kgateway-system")
    assert len(fake_tools.calls()) == calls


def test_status_on_a_cluster_reads_helm_json(helm: Helm, fake_tools: FakeTools,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    record = {"name": "enterprise-kgateway", "namespace": "kgateway-system", "version": 3,
              "info": {"status": "deployed", "last_deployed": "2026-11-23T10:00:00Z"},
              "chart": {"metadata": {"name": "enterprise-kgateway", "version": "2.2.0-rc.2"}}}
    monkeypatch.setenv("FAKE_STDOUT", json.dumps(record))
    status = helm.status("enterprise-kgateway", namespace="kgateway-system")
    assert (status.revision, status.status, status.version) == (3, "deployed", "2.2.0-rc.2")
    assert fake_tools.argv()[:6] == ["status", "enterprise-kgateway", "-n", "kgateway-system", "-o", "json"]


# -- the sim seam ----------------------------------------------------------------------------------


class MemoryKube:
    """Just enough of Kube for helm's sim path: an in-memory object store."""

    context = "ambient-lb-sim"

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.guarded: list[str] = []

    env: dict[str, str] = {}

    def argv(self, *args: str) -> list[str]:
        return ["kubectl", *args]

    def check_context(self) -> None:
        pass

    def guard(self, action: str) -> None:
        self.guarded.append(action)

    def apply(self, manifest: Any, *, namespace: str | None = None, **_: Any) -> None:
        for doc in [manifest] if isinstance(manifest, dict) else manifest:
            ns = doc["metadata"].get("namespace") or (namespace if doc["kind"] != "Namespace" else "")
            self.objects[(doc["kind"], ns, doc["metadata"]["name"])] = json.loads(json.dumps(doc))

    def read(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        found = self.objects.get(("Namespace" if kind == "namespace" else kind, namespace or "", name))
        if not found:
            raise NotFound(f"{kind} {name} not found")
        return found

    def items(self, kind: str, namespace: str | None = None, *, selector: str = "") -> list[dict[str, Any]]:
        want = dict(p.split("=") for p in selector.split(",")) if selector else {}
        return [o for (k, ns, _), o in self.objects.items() if k.lower() == kind and ns == namespace
                and want.items() <= (o["metadata"].get("labels") or {}).items()]

    def kubectl(self, *args: str, input: str | None = None, **_: Any) -> None:
        ns = args[args.index("-n") + 1]
        if "-f" in args:
            for doc in yaml.safe_load_all(input or ""):
                self.objects.pop((doc["kind"], doc["metadata"].get("namespace") or ns, doc["metadata"]["name"]), None)
        else:
            selector = next(a for a in args if a.startswith("-l="))[3:]
            for obj in self.items("secret", ns, selector=selector):
                self.objects.pop(("Secret", ns, obj["metadata"]["name"]))


def fake_render(release: str, chart: str, version: str, namespace: str, values: dict) -> list[dict]:
    key = values["licensing"]["licenseKey"]
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": release},
             "spec": {"replicas": 1, "template": {"metadata": {"annotations": {"v": version}}}}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{release}-license"},
             "data": {"license-key": base64.b64encode(key.encode()).decode()}}]


@pytest.fixture
def sim_helm() -> tuple[Helm, MemoryKube]:
    kube = MemoryKube()
    return Helm(kube, standin=True, renderer=fake_render), kube  # type: ignore[arg-type]


def release_secrets(kube: MemoryKube) -> list[dict[str, Any]]:
    return [o for (k, _, n), o in kube.objects.items() if k == "Secret" and n.startswith("sh.helm.release.v1.")]


def test_sim_install_applies_rendered_manifests_and_writes_release_secret(sim_helm, fake_tools: FakeTools) -> None:
    helm, kube = sim_helm
    with CommandLog() as log:
        result = helm.upgrade_install("enterprise-kgateway", CHART, version="2.2.0-rc.2",
                                      namespace="kgateway-system", create_namespace=True,
                                      secret_values={"licensing.licenseKey": LICENSE})
    assert fake_tools.calls() == []  # helm is not run on sim
    assert ("Deployment", "kgateway-system", "enterprise-kgateway") in kube.objects
    assert ("Namespace", "", "kgateway-system") in kube.objects
    (secret,) = release_secrets(kube)
    assert secret["metadata"]["name"] == "sh.helm.release.v1.enterprise-kgateway.v1"
    assert secret["type"] == "helm.sh/release.v1"
    assert secret["metadata"]["labels"] == {"owner": "helm", "name": "enterprise-kgateway",
                                            "status": "deployed", "version": "1"}
    assert "REVISION: 1" in result.stdout and "STATUS: deployed" in result.stdout
    assert log.lines() == [result.display]
    assert "--set-string licensing.licenseKey=${LICENSE_KEY}" in result.display


def test_sim_release_record_never_holds_the_license(sim_helm) -> None:
    helm, kube = sim_helm
    install_sim(helm)
    (secret,) = release_secrets(kube)
    record = decode_release(secret)
    dumped = json.dumps(secret) + json.dumps(record)
    assert CANARY not in dumped and base64.b64encode(CANARY.encode()).decode() not in dumped
    assert record["config"] == {"licensing": {"licenseKey": "<redacted>"}}


def test_sim_upgrade_bumps_the_revision_and_supersedes_the_old_one(sim_helm) -> None:
    helm, kube = sim_helm
    install_sim(helm)
    install_sim(helm)
    status = helm.status("enterprise-kgateway", namespace="kgateway-system")
    assert (status.revision, status.status, status.chart) == (2, "deployed", "enterprise-kgateway")
    labels = {s["metadata"]["name"]: s["metadata"]["labels"]["status"] for s in release_secrets(kube)}
    assert labels == {"sh.helm.release.v1.enterprise-kgateway.v1": "superseded",
                      "sh.helm.release.v1.enterprise-kgateway.v2": "deployed"}


def test_sim_uninstall_removes_objects_and_release(sim_helm) -> None:
    helm, kube = sim_helm
    install_sim(helm)
    helm.uninstall("enterprise-kgateway", namespace="kgateway-system")
    assert kube.guarded == ["helm uninstall enterprise-kgateway"]
    assert [k for k in kube.objects if k[0] != "Namespace"] == []
    with pytest.raises(NotFound):
        helm.status("enterprise-kgateway", namespace="kgateway-system")


def test_sim_install_without_namespace_says_create_namespace(sim_helm) -> None:
    helm, _ = sim_helm
    with pytest.raises(ClusterError, match="create-namespace"):
        helm.upgrade_install("r", CHART, namespace="missing", secret_values={"licensing.licenseKey": LICENSE})


def test_sim_seam_with_the_simulators_chart_stand_in() -> None:
    """The real ``charts.render`` plugs in: the CRDs chart honours installExtAuthCRDs=false."""
    pytest.importorskip("ambient_lb.sim.mesh.charts")
    kube = MemoryKube()
    helm = Helm(kube, standin=True)  # type: ignore[arg-type]
    helm.upgrade_install("enterprise-kgateway-crds", CHART + "-crds", version="2.2.0-rc.2",
                         namespace="kgateway-system", create_namespace=True,
                         set_values={"installExtAuthCRDs": False})
    crds = {n for (k, _, n) in kube.objects if k == "CustomResourceDefinition"}
    assert crds and not any("extauth.solo.io" in n for n in crds)
    assert helm.status("enterprise-kgateway-crds", namespace="kgateway-system").revision == 1


def test_release_secret_round_trips() -> None:
    record = {"name": "r", "namespace": "ns", "version": 4, "info": {"status": "deployed"}}
    assert decode_release(release_secret(record)) == record


def install_sim(helm: Helm) -> None:
    helm.upgrade_install("enterprise-kgateway", CHART, version="2.2.0-rc.2", namespace="kgateway-system",
                         create_namespace=True, secret_values={"licensing.licenseKey": LICENSE})
