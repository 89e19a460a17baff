"""The table of modelled images (R14.1) and what an image it does not know does."""

from __future__ import annotations

from ambient_lb.sim.mesh.apps import registry
from ambient_lb.sim.mesh.apps.base import AppRequest, Container, ImageRef
from ambient_lb.sim.mesh.apps.nginx import PINNED_IMAGE


def container(image: str, **spec: object) -> Container:
    return Container("ns", "pod-1", image, {"name": "c", "image": image, **spec}, {}, 0.0, lambda line: None,
                     lambda: 0.0)


def test_image_references_match_by_repository_with_or_without_tag_and_digest() -> None:
    assert ImageRef.parse("nginx").repository == "docker.io/library/nginx"
    assert ImageRef.parse("index.docker.io/library/nginx:1.30").repository == "docker.io/library/nginx"
    ref = ImageRef.parse(PINNED_IMAGE)
    assert (ref.repository, ref.tag, ref.digest[:12]) == ("docker.io/library/nginx", "1.30.5-alpine", "sha256:0985e")
    assert ImageRef.parse("localhost:5000/team/app:v1").repository == "localhost:5000/team/app"
    assert ImageRef.parse("mccutchen/go-httpbin:v2.15.0").repository == "docker.io/mccutchen/go-httpbin"
    for image in ("nginx", "nginx:1.27-alpine", PINNED_IMAGE, "docker.io/library/nginx@sha256:" + "a" * 64):
        assert (registry.lookup(image) or ("",))[0] == "nginx", image
    assert (registry.lookup("ghcr.io/mccutchen/go-httpbin:v2.18.3") or ("",))[0] == "go-httpbin"
    assert registry.lookup("docker.io/istio/proxyv2:1.28.0") is None


def test_unmodelled_image_runs_and_answers_404_naming_itself() -> None:
    name, launched = registry.launch(container("registry.example.com/team/app:1.2", ports=[{"containerPort": 9000}]))
    assert name == "unmodelled" and launched.exit_code is None and launched.lines is None
    app = launched.app
    assert app is not None and app.ports() == frozenset({9000})
    r = app.handle(AppRequest("GET", "/", {}, "10.0.0.1", "x"), 9000)
    assert r.status == 404 and b'"registry.example.com/team/app:1.2" is not modelled' in r.body
    assert b"go-httpbin" in r.body and b"nginx" in r.body
    _, any_port = registry.launch(container("registry.example.com/team/worker:3"))
    assert any_port.app is not None and any_port.app.ports() is None  # no declared port: any port


def test_go_httpbin_model_listens_on_its_port_and_answers_hostname() -> None:
    _, launched = registry.launch(container("docker.io/mccutchen/go-httpbin:v2.15.0"))
    assert launched.app is not None and launched.app.ports() == frozenset({8080})
    r = launched.app.handle(AppRequest("GET", "/hostname", {}, "10.0.0.1", "x"), 8080)
    assert (r.status, r.body) == (200, b'{\n  "hostname": "pod-1"\n}\n')
    _, other = registry.launch(container("mccutchen/go-httpbin:v2.15.0", env=[{"name": "PORT", "value": "9090"}]))
    assert other.app is not None and other.app.ports() == frozenset({9090})
