"""kube.py kubectl wrappers: the argv each guide command becomes, checked on a fake kubectl on PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from ambient_lb.errors import ClusterError, ContextMismatch, NotFound, TimedOut
from ambient_lb.kube import Kube, jsonpath_values, kind_of, pod_ready, pod_state, to_yaml
from ambient_lb.params import load_params
from ambient_lb.shell import CommandLog

from .conftest import FakeTools, write_kubeconfig


@pytest.fixture
def kube(kubeconfig: Path) -> Kube:
    return Kube("kind-ambient", kubeconfig)


def test_argv_is_what_a_learner_types_and_kubeconfig_comes_from_the_environment(
        kube: Kube, fake_tools: FakeTools) -> None:
    kube.get("pods", namespace="kgateway-system")
    assert fake_tools.argv() == ["get", "pods", "-n", "kgateway-system"]
    assert fake_tools.last()["kubeconfig"] == str(kube.kubeconfig)


def test_default_kubeconfig_is_not_exported(monkeypatch: pytest.MonkeyPatch, kubeconfig: Path,
                                            fake_tools: FakeTools) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    kube = Kube("kind-ambient")
    assert kube.argv("get", "ns") == ["kubectl", "get", "ns"] and "KUBECONFIG" not in kube.env
    kube.get("ns")
    assert fake_tools.last()["kubeconfig"] == str(kubeconfig)  # inherited, as in the learner's shell


def test_a_call_is_refused_before_it_runs_while_another_context_is_current(
        kubeconfig: Path, fake_tools: FakeTools) -> None:
    write_kubeconfig(kubeconfig, {"kind-ambient": "https://127.0.0.1:6443", "prod": "https://10.0.0.1:443"},
                     current="prod")
    kube = Kube("kind-ambient", kubeconfig)
    with pytest.raises(ContextMismatch) as info:
        kube.get("pods")
    assert "current context" in str(info.value) and "'prod'" in str(info.value)
    assert info.value.hint.startswith("kubectl config use-context kind-ambient")
    assert fake_tools.calls() == []
    kube.kubectl("version", "--client")  # does not reach the cluster: no check
    kube.kubectl("config", "current-context")
    assert len(fake_tools.calls()) == 2


def test_a_context_missing_from_the_kubeconfig_is_named_with_the_ones_there(
        kubeconfig: Path, fake_tools: FakeTools) -> None:
    with pytest.raises(ContextMismatch, match="contexts there: kind-ambient, prod"):
        Kube("kind-gone", kubeconfig).get("pods")
    assert fake_tools.calls() == []


def test_apply_string_goes_through_stdin_and_shows_a_heredoc(kube: Kube, fake_tools: FakeTools) -> None:
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "httpbin"}}
    with CommandLog() as log:
        kube.apply(manifest)
    call = fake_tools.last()
    assert call["argv"][1:] == ["apply", "-f", "-"]
    assert call["stdin"] == to_yaml(manifest)
    assert log.lines()[0].startswith("kubectl apply -f - <<'EOF'\n")
    assert log.lines()[0].endswith("<<'EOF'\n" + to_yaml(manifest).rstrip("\n") + "\nEOF")


def test_apply_server_side_from_url_without_validation(kube: Kube, fake_tools: FakeTools) -> None:
    url = "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.0/standard-install.yaml"
    kube.apply(url=url, server_side=True, validate=False, field_manager="ambient-lb", force_conflicts=True)
    assert fake_tools.argv() == ["apply", "-f", url, "--server-side", "--force-conflicts",
                                 "--field-manager=ambient-lb", "--validate=false"]


def test_apply_file_into_a_namespace(kube: Kube, fake_tools: FakeTools, tmp_path: Path) -> None:
    f = tmp_path / "route.yaml"
    f.write_text("kind: HTTPRoute\n")
    kube.apply(file=f, namespace="httpbin")
    assert fake_tools.argv() == ["apply", "-f", str(f), "-n", "httpbin"]


def test_apply_needs_exactly_one_source(kube: Kube) -> None:
    with pytest.raises(TypeError, match="exactly one"):
        kube.apply("kind: A", url="https://x.example/a.yaml")


def test_label_namespace_like_the_guide(kube: Kube, fake_tools: FakeTools) -> None:
    with CommandLog() as log:
        kube.label("ns", "kgateway-system", {"istio.io/dataplane-mode": "ambient"})
    assert fake_tools.argv() == ["label", "ns", "kgateway-system", "istio.io/dataplane-mode=ambient"]
    assert log.lines()[0] == "kubectl label ns kgateway-system istio.io/dataplane-mode=ambient"


def test_label_overwrite_and_removal(kube: Kube, fake_tools: FakeTools) -> None:
    kube.label("service", "in-ambient", {"istio.io/ingress-use-waypoint": "true", "old": None},
               namespace="httpbin", overwrite=True)
    assert fake_tools.argv() == ["label", "service", "in-ambient", "istio.io/ingress-use-waypoint=true",
                                 "old-", "-n", "httpbin", "--overwrite"]


def test_annotate(kube: Kube, fake_tools: FakeTools) -> None:
    kube.annotate("service", "in-ambient", {"networking.istio.io/traffic-distribution": "PreferClose"},
                  namespace="httpbin")
    assert fake_tools.argv() == ["annotate", "service", "in-ambient",
                                 "networking.istio.io/traffic-distribution=PreferClose", "-n", "httpbin"]


def test_scale(kube: Kube, fake_tools: FakeTools) -> None:
    kube.scale("deployment", "in-ambient", 3, namespace="httpbin")
    assert fake_tools.argv() == ["scale", "deployment", "in-ambient", "-n", "httpbin", "--replicas=3"]


def test_delete_with_label_and_field_selectors_no_wait(kube: Kube, fake_tools: FakeTools) -> None:
    kube.delete("pod", namespace="httpbin", selector="app=in-ambient",
                field_selector="status.phase=Running", wait=False)
    assert fake_tools.argv() == ["delete", "pod", "-n", "httpbin", "-l", "app=in-ambient",
                                 "--field-selector=status.phase=Running", "--wait=false"]


def test_delete_by_names_ignoring_missing(kube: Kube, fake_tools: FakeTools) -> None:
    kube.delete("destinationrule", ["in-ambient-failover"], namespace="httpbin", ignore_not_found=True)
    assert fake_tools.argv() == ["delete", "destinationrule", "in-ambient-failover", "-n", "httpbin",
                                 "--ignore-not-found"]


def test_delete_without_names_or_selector_is_refused(kube: Kube, fake_tools: FakeTools) -> None:
    with pytest.raises(TypeError, match="refusing"):
        kube.delete("pod", namespace="httpbin")
    assert fake_tools.calls() == []


def test_delete_namespace(kube: Kube, fake_tools: FakeTools) -> None:
    kube.delete_namespace("httpbin")
    assert fake_tools.argv() == ["delete", "namespace", "httpbin"]


def test_rollout_status_with_timeout(kube: Kube, fake_tools: FakeTools) -> None:
    kube.rollout_status("deployment", "httpbin-waypoint", namespace="httpbin", timeout=load_params().timeouts.rollout)
    assert fake_tools.argv() == ["-n", "httpbin", "rollout", "status", "deployment/httpbin-waypoint",
                                 "--timeout=180s"]


def test_get_with_output_selector_and_all_namespaces(kube: Kube, fake_tools: FakeTools) -> None:
    kube.get("pods", output="wide", all_namespaces=True, selector="app=ztunnel")
    assert fake_tools.argv() == ["get", "pods", "-A", "-l", "app=ztunnel", "-o", "wide"]
    kube.get("svc", "http", namespace="kgateway-system",
             output="jsonpath={.status.loadBalancer.ingress[0]['hostname','ip']}")
    assert fake_tools.argv()[:5] == ["get", "svc", "http", "-n", "kgateway-system"]


def test_logs_of_a_deployment_with_tail(kube: Kube, fake_tools: FakeTools) -> None:
    kube.logs("deploy/httpbin-waypoint", namespace="httpbin", tail=10)
    assert fake_tools.argv() == ["logs", "-n", "httpbin", "deploy/httpbin-waypoint", "--tail=10"]


def test_not_found_from_kubectl_becomes_not_found(kube: Kube, fake_tools: FakeTools,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_RC", "1")
    monkeypatch.setenv("FAKE_STDERR",
                       'Error from server (NotFound): gateways.gateway.networking.k8s.io "http" not found\n')
    with pytest.raises(NotFound) as info:
        kube.get("gateway", "http", namespace="kgateway-system")
    assert info.value.returncode == 1
    assert '"http" not found' in str(info.value)


def test_other_failures_stay_cluster_errors(kube: Kube, fake_tools: FakeTools,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_RC", "1")
    monkeypatch.setenv("FAKE_STDERR", "error: the server doesn't have a resource type \"gatways\"\n")
    with pytest.raises(ClusterError) as info:
        kube.get("gatways")
    assert type(info.value) is ClusterError


# -- port-forward ------------------------------------------------------------------------------


def test_port_forward_yields_the_address_and_stops_kubectl(kube: Kube, fake_tools: FakeTools) -> None:
    import socket

    with CommandLog() as log:
        with kube.port_forward("deployment/http", 0, 8080, namespace="kgateway-system", timeout=20) as addr:
            host, port = addr.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5):
                pass
    assert fake_tools.argv() == ["port-forward", "-n", "kgateway-system", "deployment/http", ":8080"]
    assert log.lines()[0] == "kubectl port-forward -n kgateway-system deployment/http :8080 &"
    assert log.entries[0].stdout.startswith(f"Forwarding from 127.0.0.1:{port} -> 8080")  # what kubectl printed
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2)


def test_port_forward_failure_says_why(kube: Kube, fake_tools: FakeTools, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PF_FAIL", "1")
    with pytest.raises(ClusterError) as info:
        with kube.port_forward("deployment/http", 8080, 8080, namespace="kgateway-system", timeout=20):
            pass
    assert "pod is not running" in str(info.value)


def test_port_forward_times_out_when_nothing_forwards(kube: Kube, fake_tools: FakeTools,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_HANG", "1")
    monkeypatch.setattr("ambient_lb.kube._FORWARDING", __import__("re").compile(r"never matches (\d+)"))
    with pytest.raises(TimedOut):
        with kube.port_forward("deployment/http", 8080, 8080, timeout=1):
            pass


# -- the context guard -------------------------------------------------------------------------


def test_guard_refuses_a_context_other_than_the_params_one(kubeconfig: Path, fake_tools: FakeTools) -> None:
    kube = Kube("prod", kubeconfig, expected_context="kind-ambient")
    with pytest.raises(ContextMismatch) as info:
        kube.delete("namespace", ["httpbin"])
    assert "'prod'" in str(info.value) and "'kind-ambient'" in str(info.value)
    assert fake_tools.calls() == []


def test_guard_refuses_a_context_missing_from_the_kubeconfig(kubeconfig: Path, fake_tools: FakeTools) -> None:
    kube = Kube("kind-gone", kubeconfig)
    with pytest.raises(ContextMismatch) as info:
        kube.delete_namespace("httpbin")
    assert "contexts there: kind-ambient, prod" in str(info.value)
    assert fake_tools.calls() == []


def test_guard_refuses_when_the_context_now_points_elsewhere(kubeconfig: Path, fake_tools: FakeTools) -> None:
    kube = Kube("kind-ambient", kubeconfig)
    write_kubeconfig(kubeconfig, {"kind-ambient": "https://10.9.9.9:443"})
    with pytest.raises(ContextMismatch, match="now points at https://10.9.9.9:443"):
        kube.delete("pod", ["x"], namespace="httpbin")
    assert fake_tools.calls() == []


def test_guard_allows_the_params_context(kube: Kube, fake_tools: FakeTools) -> None:
    kube.delete("pod", ["x"], namespace="httpbin")
    assert fake_tools.argv()[:3] == ["delete", "pod", "x"]


def test_from_params_pins_the_params_context(kubeconfig: Path) -> None:
    params = load_params(None, {"target": "cluster", "kube.context": "kind-ambient",
                                "kube.kubeconfig": str(kubeconfig)})
    kube = Kube.from_params(params)
    assert kube.context == kube.expected_context == "kind-ambient"
    assert kube.kubeconfig == kubeconfig


# -- pure helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind", [("deploy", "Deployment"), ("deployments", "Deployment"),
                                       ("svc", "Service"), ("ns", "Namespace"), ("Gateway", "Gateway"),
                                       ("httproute", "HTTPRoute"), ("dr", "DestinationRule"),
                                       ("gateways.gateway.networking.k8s.io", "Gateway")])
def test_kind_aliases(name: str, kind: str) -> None:
    assert kind_of(name).kind == kind


def test_unknown_kind_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known: .*Deployment"):
        kind_of("deploymnet")


def test_jsonpath_values_accepts_kubectl_style_paths() -> None:
    svc = {"status": {"loadBalancer": {"ingress": [{"ip": "10.96.0.7"}]}}, "spec": {"ready": True}}
    assert jsonpath_values(svc, "{.status.loadBalancer.ingress[0].ip}") == ["10.96.0.7"]
    assert jsonpath_values(svc, ".spec.ready") == ["true"]
    assert jsonpath_values(svc, ".status.nothing") == []


def test_pod_state_and_readiness() -> None:
    creating = {"status": {"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "ContainerCreating"}}}]}}
    ready = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    terminating = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, **ready}
    assert pod_state(creating) == "ContainerCreating" and not pod_ready(creating)
    assert pod_state(ready) == "Running, Ready" and pod_ready(ready)
    assert pod_state(terminating) == "Terminating" and not pod_ready(terminating)


def test_guard_accepts_a_restarted_local_simulator_on_a_new_port(tmp_path: Path, fake_tools: FakeTools) -> None:
    """A simulator restart changes only the loopback port: still the same (local) cluster."""
    cfg = write_kubeconfig(tmp_path / "sim", {"ambient-lb-sim": "https://127.0.0.1:40001"})
    kube = Kube("ambient-lb-sim", cfg)
    write_kubeconfig(cfg, {"ambient-lb-sim": "https://127.0.0.1:40999"})
    kube.delete("pod", ["x"], namespace="httpbin")
    assert fake_tools.argv()[:3] == ["delete", "pod", "x"]


def test_apply_redacts_secrets_in_the_shown_heredoc(kube: Kube, fake_tools: FakeTools) -> None:
    from ambient_lb.shell import Secret

    secret = Secret("CANARY-APPLY-42", "LICENSE_KEY")
    with CommandLog() as log:
        kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                    "stringData": {"key": secret.value}}, secrets=[secret])
    assert "CANARY-APPLY-42" in fake_tools.last()["stdin"]
    assert "CANARY-APPLY-42" not in log.as_text() and "key: ${LICENSE_KEY}" in log.as_text()


def test_broken_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [\n")
    with pytest.raises(ClusterError, match="not valid YAML"):
        Kube("kind-ambient", bad)


def test_client_for_a_missing_context_says_how_to_list_contexts(kube: Kube) -> None:
    other = Kube("not-there", kube.kubeconfig)
    with pytest.raises(ClusterError, match="cannot use context 'not-there'") as info:
        other.read("pod", "x", "default")
    assert "kubectl config get-contexts" in str(info.value)
