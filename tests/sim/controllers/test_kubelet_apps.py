"""The kubelet with the apps' hook (R14.7, R14.8): probes ask the app, mounts come from the store,
an app that exits is restarted with back-off; strict mode ignores the ready fault."""

from __future__ import annotations

from typing import Any

import pytest

from ambient_lb.sim.controllers.faults import READY
from ambient_lb.sim.controllers.keys import CONFIG_MAPS, DEPLOYMENTS, PODS
from ambient_lb.sim.controllers.objects import condition, is_true
from ambient_lb.sim.mesh.apps.base import AppRequest, AppResponse
from ambient_lb.sim.mesh.apps.nginx import PINNED_IMAGE
from ambient_lb.sim.mesh.apps.runtime import AppRuntime

from .conftest import Sim, deployment

HEALTHZ_500 = 'server { listen 8080; location / { return 500 "$hostname\\n"; } }\n'
HEALTHZ_200 = ('server { listen 8080; location = /healthz { return 200 "ok\\n"; } '
               'location / { return 500 "$hostname\\n"; } }\n')


@pytest.fixture
def apps(bare: Sim) -> Sim:
    """The bare cluster plus the mesh's app runtime (the kubelet's hook), nothing else of the mesh."""
    bare.cluster.add_controller(AppRuntime())
    return bare


class Overloaded:
    def ports(self) -> frozenset[int]:
        return frozenset({8080})

    def handle(self, req: AppRequest, port: int) -> AppResponse:
        return AppResponse(503, {}, b"")

    def stop_lines(self, now: float) -> None:
        return None


def configmap(name: str, conf: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "httpbin"},
            "data": {"default.conf": conf}}


def nginx_deployment(name: str = "faulty", probe: dict[str, Any] | None = None) -> dict[str, Any]:
    d = deployment(name, image=PINNED_IMAGE)
    c = d["spec"]["template"]["spec"]["containers"][0]
    c["name"] = "nginx"
    c["readinessProbe"] = probe or {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
    c["volumeMounts"] = [{"name": "conf", "mountPath": "/etc/nginx/conf.d"}]
    d["spec"]["template"]["spec"]["volumes"] = [{"name": "conf", "configMap": {"name": name}}]
    return d


def one_pod(sim: Sim, name: str = "faulty") -> dict[str, Any]:
    (pod,) = sim.pods("httpbin", app=name)
    return sim.store.get(PODS, "httpbin", pod["metadata"]["name"])


def messages(sim: Sim, pod: dict[str, Any], reason: str) -> list[tuple[str, int]]:
    return [(e["message"], e["count"]) for e in sim.events(reason)
            if e["involvedObject"]["name"] == pod["metadata"]["name"]]


def test_pod_whose_readiness_path_answers_500_stays_not_ready(apps: Sim) -> None:
    """R14.7: an httpGet probe that gets 500 fails: Running, 0/1, and the kubelet's Unhealthy event."""
    apps.create(CONFIG_MAPS, configmap("faulty", HEALTHZ_500))
    apps.create(DEPLOYMENTS, nginx_deployment())
    apps.advance(40)
    pod = one_pod(apps)
    assert pod["status"]["phase"] == "Running" and not is_true(pod, "Ready")
    assert condition(pod, "Ready")["reason"] == "ContainersNotReady"
    (unhealthy,) = messages(apps, pod, "Unhealthy")
    assert unhealthy[0] == "Readiness probe failed: HTTP probe failed with statuscode: 500" and unhealthy[1] >= 3


def test_pod_whose_readiness_path_answers_200_is_ready_though_other_paths_fail(apps: Sim) -> None:
    apps.create(CONFIG_MAPS, configmap("faulty", HEALTHZ_200))
    apps.create(DEPLOYMENTS, nginx_deployment())
    apps.advance(4)
    pod = one_pod(apps)
    assert is_true(pod, "Ready") and messages(apps, pod, "Unhealthy") == []
    lines = [t for _, t in apps.cluster.logs.read("httpbin", pod["metadata"]["name"], "nginx")]
    assert "10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf " \
           "(read-only file system?)" in lines
    # the probe came from the kubelet, as kube-probe (no access_log off here, so nginx logged it)
    assert any('"GET /healthz HTTP/1.1" 200 3 "-" "kube-probe/1.32" "-"' in line for line in lines)


def test_probe_follows_the_app_when_it_starts_failing_later(apps: Sim) -> None:
    """Probes keep running every periodSeconds while the hook is there: a pod can go 0/1 later."""
    apps.create(CONFIG_MAPS, configmap("faulty", HEALTHZ_200))
    apps.create(DEPLOYMENTS, nginx_deployment())
    apps.advance(4)
    pod = one_pod(apps)
    (run,) = apps.cluster.extensions["apps"]._apps[("httpbin", pod["metadata"]["name"])]
    run.app = Overloaded()  # the app starts answering 503 (as if it were overloaded)
    apps.advance(31)
    assert not is_true(one_pod(apps), "Ready")


def test_tcp_probe_fails_when_nothing_listens_on_the_port(apps: Sim) -> None:
    apps.create(CONFIG_MAPS, configmap("faulty", HEALTHZ_200))
    apps.create(DEPLOYMENTS, nginx_deployment(probe={"tcpSocket": {"port": 9090}, "periodSeconds": 10}))
    apps.advance(30)
    pod = one_pod(apps)
    ip = pod["status"]["podIP"]
    assert not is_true(pod, "Ready")
    assert messages(apps, pod, "Unhealthy")[0][0] == \
        f"Readiness probe failed: dial tcp {ip}:9090: connect: connection refused"


def test_missing_configmap_keeps_the_pod_container_creating_with_failed_mount(apps: Sim) -> None:
    """R14.8: the real FailedMount event, repeated with back-off; the pod starts once the ConfigMap exists."""
    apps.create(DEPLOYMENTS, nginx_deployment())
    apps.advance(30)
    pod = one_pod(apps)
    assert pod["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    (failed,) = messages(apps, pod, "FailedMount")
    assert failed[0] == 'MountVolume.SetUp failed for volume "conf" : configmap "faulty" not found'
    assert failed[1] >= 5  # 0.5 s, 1, 2, 4, 8, 16 s ...
    assert messages(apps, pod, "Pulled") == []
    apps.create(CONFIG_MAPS, configmap("faulty", HEALTHZ_200))
    apps.advance(40)
    assert is_true(one_pod(apps), "Ready")


def test_config_nginx_cannot_parse_crash_loops_with_back_off(apps: Sim) -> None:
    """R14.5, R14.8: nginx exits 1 at start: restarted at once, then after 10 s, 20 s ...; the pod is
    never Ready; the status says CrashLoopBackOff and the log shows the [emerg]."""
    apps.create(CONFIG_MAPS, configmap("faulty", "server { listen 8080; retrun 500; }\n"))
    apps.create(DEPLOYMENTS, nginx_deployment())
    apps.advance(3)
    pod = one_pod(apps)
    cs = pod["status"]["containerStatuses"][0]
    assert cs["state"]["terminated"]["exitCode"] == 1 and cs["state"]["terminated"]["reason"] == "Error"
    apps.advance(2)  # restarted once at once, exited again, now backing off 10 s
    cs = one_pod(apps)["status"]["containerStatuses"][0]
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    assert cs["restartCount"] == 1 and cs["state"]["waiting"] == {
        "reason": "CrashLoopBackOff",
        "message": f"back-off 10s restarting failed container=nginx pod={name}_httpbin({uid})"}
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    apps.advance(40)
    cs = one_pod(apps)["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 3 and "back-off 40s" in cs["state"]["waiting"]["message"]
    assert not is_true(one_pod(apps), "Ready") and one_pod(apps)["status"]["phase"] == "Running"
    (backoff,) = messages(apps, pod, "BackOff")
    assert backoff[0] == f"Back-off restarting failed container nginx in pod {name}_httpbin({uid})"
    lines = [t for _, t in apps.cluster.logs.read("httpbin", name, "nginx")]
    assert lines[-1] == 'nginx: [emerg] unknown directive "retrun" in /etc/nginx/conf.d/default.conf:1'
    assert lines[0].startswith("/docker-entrypoint.sh:")  # this run's lines only (the earlier runs are --previous)


def test_without_the_app_hook_probes_succeed_as_before(bare: Sim) -> None:
    bare.create(CONFIG_MAPS, configmap("faulty", HEALTHZ_500))
    bare.create(DEPLOYMENTS, nginx_deployment())
    bare.advance(4)
    assert is_true(one_pod(bare), "Ready")


def test_strict_mode_ignores_the_ready_fault_annotation_and_says_so(apps: Sim) -> None:
    apps.cluster.strict = True
    apps.create(CONFIG_MAPS, configmap("faulty", HEALTHZ_200))
    d = nginx_deployment()
    d["spec"]["template"]["metadata"]["annotations"] = {READY: "false"}
    apps.create(DEPLOYMENTS, d)
    apps.advance(40)
    pod = one_pod(apps)
    assert is_true(pod, "Ready")
    lines = [t for _, t in apps.cluster.logs.read("httpbin", pod["metadata"]["name"], "nginx")]
    notices = [line for line in lines if "strict mode" in line]
    assert notices == ["[ambient-lb simulator] strict mode: ignoring the annotation fault.ambient-lb.dev/ready='false' "
                       "on this pod; fault annotations are for tests and drills, make the app fail as it would on "
                       "a cluster"]
