"""The table of images the simulator models, by repository (R14.1).

Who calls it: ``runtime`` when the kubelet starts a container. An image reference is matched by its
repository, with or without tag and digest (``nginx``, ``nginx:1.30.5-alpine``,
``docker.io/library/nginx@sha256:...`` are one entry); the tag and digest are the model's to read
(nginx takes its version from them).

An image the table does not know is not modelled: the container starts and runs quietly, its
readiness probes pass (the simulator cannot know what it would answer, so it assumes the happy path,
as the kubelet model did before any image was modelled), it accepts connections on the ports the
container declares (any port if it declares none), and every request gets ``404`` with a
``text/plain`` body that names the image and the images that are modelled. Least surprise: the pod
becomes Ready as its Deployment expects, and the first request says plainly why the answer is not
the app's.

``register(repository, name, model)`` adds an entry (another image family, or a test's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import commands, httpbin, nginx
from .base import AppRequest, AppResponse, Container, ImageRef, Launch, Model

_MODELS: dict[str, tuple[str, Model]] = {}


def register(repository: str, name: str, model: Model) -> None:
    """Model the images of ``repository`` (``docker.io/library/nginx``) with ``model``."""
    _MODELS[ImageRef.parse(repository).repository] = (name, model)


def lookup(image: str) -> tuple[str, Model] | None:
    """(name, model) for an image reference, or None if the simulator does not model it."""
    return _MODELS.get(ImageRef.parse(image).repository)


def modelled_names() -> list[str]:
    """The names of the modelled apps."""
    return sorted({name for name, _ in _MODELS.values()})


@dataclass
class Unmodelled:
    """What an image the simulator does not know does: runs, listens, answers 404 saying so."""

    image: str
    declared: frozenset[int]

    def ports(self) -> frozenset[int] | None:
        """The containerPorts it declares (None: any port)."""
        return self.declared or None

    def handle(self, req: AppRequest, port: int) -> AppResponse:
        """404 for every request, with a body that says the image is not modelled and which images are."""
        body = (f'ambient-lb simulator: the image "{self.image}" is not modelled, so this pod answers 404 to '
                f'every request; modelled images: {", ".join(modelled_names())}\n').encode()
        return AppResponse(404, {"Content-Type": "text/plain; charset=utf-8"}, body)

    def stop_lines(self, now: float) -> None:
        """None: the kubelet's own table of stop lines applies."""
        return None


def launch_unmodelled(c: Container) -> Launch:
    """Starts a container whose image has no model."""
    return Launch(Unmodelled(c.image, c.declared_ports()))


def launch(c: Container) -> tuple[str, Launch]:
    """Start container ``c`` with its image's model (or as an unmodelled image)."""
    found = lookup(c.image)
    name, model = found if found is not None else ("unmodelled", launch_unmodelled)
    return name, model(c)


def is_modelled(app: Any) -> bool:
    """True unless the app stands in for an image without a model."""
    return not isinstance(app, Unmodelled)


for _repo in ("docker.io/mccutchen/go-httpbin", "ghcr.io/mccutchen/go-httpbin"):
    register(_repo, "go-httpbin", httpbin.launch)
for _repo in ("docker.io/library/nginx", "mirror.gcr.io/library/nginx", "public.ecr.aws/nginx/nginx",
              "public.ecr.aws/docker/library/nginx"):
    register(_repo, "nginx", nginx.launch)
for _repo in ("docker.io/nginxinc/nginx-unprivileged", "docker.io/nginx/nginx-unprivileged"):
    register(_repo, "nginx-unprivileged", nginx.launch_unprivileged)
for _repo in commands.IMAGES:
    register(_repo, "commands", commands.launch)  # [model] shell and perl images run their command (R16.21)
