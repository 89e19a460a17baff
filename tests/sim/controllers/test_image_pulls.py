"""Images a node cannot pull (docs/semantics-addendum.md R14.11, R14.12): the reference decides, the
kubelet shows ErrImagePull then ImagePullBackOff with the kubelet's events and back-off, the pod stays
Pending and not Ready; everything else pulls as before. In-process, on a ManualClock."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from ambient_lb.sim.controllers.keys import PODS
from ambient_lb.sim.controllers.objects import condition
from ambient_lb.sim.mesh.apps import pulls
from ambient_lb.sim.mesh.apps.nginx import PINNED_IMAGE
from ambient_lb.sim.mesh.apps.runtime import AppRuntime

from .conftest import Sim

NOT_FOUND = ('rpc error: code = NotFound desc = failed to pull and unpack image '
             '"docker.io/library/nginx:does-not-exist": failed to resolve reference '
             '"docker.io/library/nginx:does-not-exist": docker.io/library/nginx:does-not-exist: not found')
NO_SUCH_HOST = ('failed to pull and unpack image "registry.invalid/team/app:1.0": failed to resolve reference '
                '"registry.invalid/team/app:1.0": failed to do request: Head '
                '"https://registry.invalid/v2/team/app/manifests/1.0": dial tcp: lookup registry.invalid on '
                '172.18.0.1:53: no such host')


@pytest.fixture
def apps(bare: Sim) -> Sim:
    """The bare cluster plus the mesh's app runtime (the kubelet's hook: images, pulls, probes)."""
    bare.cluster.add_controller(AppRuntime())
    return bare


def pod(name: str, *containers: tuple[str, str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "httpbin"},
            "spec": {"containers": [{"name": n, "image": i} for n, i in containers], **spec}}


def get(sim: Sim, name: str) -> dict[str, Any]:
    return sim.store.get(PODS, "httpbin", name)


def state(sim: Sim, name: str, container: str = "app") -> dict[str, Any]:
    cs = next(c for c in get(sim, name)["status"]["containerStatuses"] if c["name"] == container)
    return cs["state"]


def events(sim: Sim, name: str) -> list[tuple[str, str, str, int]]:
    return [(e["type"], e["reason"], e["message"], e["count"]) for e in sim.events()
            if e["involvedObject"]["name"] == name and e["reason"] != "Scheduled"]


def test_a_tag_the_image_does_not_have_is_err_image_pull_then_image_pull_back_off(apps: Sim) -> None:
    """R14.12: the first pull fails (ErrImagePull, the runtime's error), the next sync backs off
    (ImagePullBackOff, the error kept in the message); Pending, not Ready; the kubelet's events."""
    apps.create(PODS, pod("web", ("app", "nginx:does-not-exist")))
    apps.advance(3)
    p = get(apps, "web")
    assert state(apps, "web") == {"waiting": {"reason": "ErrImagePull", "message": NOT_FOUND}}
    assert p["status"]["phase"] == "Pending" and p["status"]["podIP"]
    ready = condition(p, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
    (cs,) = p["status"]["containerStatuses"]
    assert cs["imageID"] == "" and "containerID" not in cs and cs["started"] is False and cs["restartCount"] == 0
    apps.advance(1)
    assert state(apps, "web") == {"waiting": {
        "reason": "ImagePullBackOff",
        "message": f'Back-off pulling image "nginx:does-not-exist": ErrImagePull: {NOT_FOUND}'}}
    assert get(apps, "web")["status"]["phase"] == "Pending"
    assert events(apps, "web") == [
        ("Normal", "Pulling", 'Pulling image "nginx:does-not-exist"', 1),
        ("Warning", "Failed", f'Failed to pull image "nginx:does-not-exist": {NOT_FOUND}', 1),
        ("Warning", "Failed", "Error: ErrImagePull", 1),
        ("Normal", "BackOff", 'Back-off pulling image "nginx:does-not-exist"', 1),
        ("Warning", "Failed", "Error: ImagePullBackOff", 1)]
    assert all(e["involvedObject"].get("fieldPath") == "spec.containers{app}" for e in apps.events()
               if e["involvedObject"]["name"] == "web" and e["reason"] != "Scheduled")


def test_a_registry_that_does_not_resolve_fails_the_pull_with_no_such_host(apps: Sim) -> None:
    """R14.11: a registry host under .invalid never resolves: containerd's DNS error, no gRPC code."""
    apps.create(PODS, pod("dns", ("app", "registry.invalid/team/app:1.0")))
    apps.advance(3)
    assert state(apps, "dns") == {"waiting": {"reason": "ErrImagePull", "message": NO_SUCH_HOST}}


def test_image_back_off_doubles_from_ten_seconds_to_five_minutes(apps: Sim) -> None:
    """R14.12: pulls at the first sync, then whenever a 10 s sync finds the back-off (10, 20, 40 … 300 s) over."""
    apps.create(PODS, pod("web", ("app", "nginx:does-not-exist")))
    pulled_at: list[float] = []
    start = apps.clock.now()
    for _ in range(1500):
        apps.advance(1)
        count = next((c for t, r, m, c in events(apps, "web") if r == "Pulling"), 0)
        if count > len(pulled_at):
            pulled_at.append(apps.clock.now() - start)
    gaps = [round(b - a) for a, b in pairwise(pulled_at)]
    # the first pull takes 2 s (Pulling at 0.2 s, Failed at 2.2 s); the syncs come 1 s later, then every
    # 10 s, so each retry is at the first sync after the back-off (10, 20, 40 … 300 s) from the failure
    assert gaps == [13, 20, 40, 80, 160, 300, 300, 300]
    assert state(apps, "web")["waiting"]["reason"] in ("ErrImagePull", "ImagePullBackOff")


def test_other_containers_run_while_one_waits_for_its_image(apps: Sim) -> None:
    """getPhase: a container that never ran keeps the pod Pending even though its sidecar runs."""
    apps.create(PODS, pod("two", ("app", "nginx:does-not-exist"), ("side", PINNED_IMAGE)))
    apps.advance(5)
    assert "running" in state(apps, "two", "side")
    assert state(apps, "two")["waiting"]["reason"] == "ImagePullBackOff"
    assert get(apps, "two")["status"]["phase"] == "Pending"


def test_an_image_fixed_in_the_pod_spec_is_pulled_at_the_next_sync_and_runs(apps: Sim) -> None:
    """The back-off is per (pod, image): a new image is pulled at once by the next sync, then it runs."""
    apps.create(PODS, pod("web", ("app", "nginx:does-not-exist")))
    apps.advance(5)
    apps.update(PODS, "httpbin", "web", lambda p: p["spec"]["containers"][0].__setitem__("image", PINNED_IMAGE))
    apps.advance(12)
    p = get(apps, "web")
    assert "running" in state(apps, "web") and p["status"]["phase"] == "Running"
    assert p["status"]["containerStatuses"][0]["image"] == PINNED_IMAGE
    assert p["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    assert ("Normal", "Started", "Started container app", 1) in events(apps, "web")
    apps.advance(10)
    assert condition(get(apps, "web"), "Ready")["status"] == "True"


def test_pull_policy_never_says_the_image_is_not_present(apps: Sim) -> None:
    """ErrImageNeverPull: an image that is not on the node is never pulled; every sync says so."""
    apps.create(PODS, {**pod("never"), "spec": {"containers": [
        {"name": "app", "image": "nginx:does-not-exist", "imagePullPolicy": "Never"}]}})
    apps.advance(5)
    msg = 'Container image "nginx:does-not-exist" is not present with pull policy of Never'
    assert state(apps, "never") == {"waiting": {"reason": "ErrImageNeverPull", "message": msg}}
    assert ("Warning", "ErrImageNeverPull", msg, 2) in events(apps, "never")
    assert not any(r == "Pulling" for _, r, _, _ in events(apps, "never"))


def test_strict_mode_still_fails_the_pull(apps: Sim) -> None:
    """R14.12: a failed pull is the cluster's behaviour, not a fault annotation: strict keeps it."""
    apps.cluster.strict = True
    apps.create(PODS, pod("web", ("app", "nginx:does-not-exist")))
    apps.advance(5)
    assert state(apps, "web")["waiting"]["reason"] == "ImagePullBackOff"


def test_deleting_a_pod_whose_image_never_came_stops_no_container(apps: Sim) -> None:
    apps.create(PODS, pod("web", ("app", "nginx:does-not-exist")))
    apps.advance(5)
    apps.delete(PODS, "httpbin", "web")
    apps.advance(2)
    assert get(apps, "web") is None
    assert not any(r == "Killing" for _, r, _, _ in events(apps, "web"))


def test_without_the_app_hook_every_image_pulls(bare: Sim) -> None:
    """Controller-only clusters (no mesh) have no registry model: the pod runs as before."""
    bare.create(PODS, pod("web", ("app", "nginx:does-not-exist")))
    bare.advance(5)
    assert "running" in state(bare, "web")


# ---- the rule table (R14.11) ------------------------------------------------------------------------
@pytest.mark.parametrize("image", [
    PINNED_IMAGE, "nginx", "nginx:1", "nginx:1.27", "nginx:1.30-alpine", "nginx:stable-alpine", "nginx:mainline",
    "docker.io/mccutchen/go-httpbin:v2.15.0", "ghcr.io/mccutchen/go-httpbin:v2.18.3", "busybox:1.36", "busybox",
    "alpine:3.20", "perl:5.34.0", "nginxinc/nginx-unprivileged:1.30-alpine", "nginx@sha256:" + "a" * 64,
    "registry.k8s.io/coredns/coredns:v1.11.3", "x:1", "example.com/team/app:does-not-exist",
    "docker.io/istio/ztunnel:1.27.0", "localhost:5000/app:1"])
def test_references_that_pull(image: str) -> None:
    assert pulls.pull_error(image, "172.18.0.2") is None


@pytest.mark.parametrize("image,normalized", [
    ("nginx:does-not-exist", "docker.io/library/nginx:does-not-exist"),
    ("nginx:latests", "docker.io/library/nginx:latests"),
    ("nginx:2", "docker.io/library/nginx:2"),
    ("busybox:alpin", "docker.io/library/busybox:alpin"),
    ("docker.io/mccutchen/go-httpbin:v3.0.0", "docker.io/mccutchen/go-httpbin:v3.0.0"),
])
def test_tags_a_modelled_image_does_not_have_are_not_found(image: str, normalized: str) -> None:
    err = pulls.pull_error(image, "172.18.0.2")
    assert err is not None and err.code == "NotFound"
    assert err.message == (f'rpc error: code = NotFound desc = failed to pull and unpack image "{normalized}": '
                           f'failed to resolve reference "{normalized}": {normalized}: not found')


@pytest.mark.parametrize("image,url,host", [
    ("registry.invalid/app", "https://registry.invalid/v2/app/manifests/latest", "registry.invalid"),
    ("reg.example:5000/a/b:2", "https://reg.example:5000/v2/a/b/manifests/2", "reg.example"),
    ("hub.test/x@sha256:" + "b" * 64, "https://hub.test/v2/x/manifests/sha256:" + "b" * 64, "hub.test"),
])
def test_registries_under_reserved_tlds_do_not_resolve(image: str, url: str, host: str) -> None:
    err = pulls.pull_error(image, "172.18.1.3")
    assert err is not None and err.code == "Unknown" and not err.message.startswith("rpc error")
    assert err.message.endswith(f'failed to do request: Head "{url}": dial tcp: lookup {host} on 172.18.0.1:53: '
                                "no such host")
