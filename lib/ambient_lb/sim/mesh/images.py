"""The programs in the proxy images, as ``kubectl exec`` finds them (R13.8).

Who calls it: ``pod_sockets`` registers ``exec_handler(cluster, image)`` for the Envoy container of
the waypoint and kgateway proxy pods. The handler looks ``argv[0]`` up in the image's table:

- a modelled program runs (``pilot_agent``, ``wget``);
- a program the image has but the simulator does not model answers so, exit 1 (R13.13);
- anything else raises ``ProgramNotFound``: the API server answers as containerd does (R13.8, R15.5).
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..cluster import Cluster, ExecResult, ProgramNotFound
from .exec_context import ExecContext
from .pilot_agent import pilot_agent
from .wget import wget

Program = Callable[[ExecContext, list[str], bytes], Awaitable[ExecResult]]


@dataclass(frozen=True)
class Image:
    """One image's ``$PATH`` directories and programs (None: present, not modelled)."""

    path: tuple[str, ...]
    programs: dict[str, Program | None]


#: R13.8: ``istio/proxyv2`` (distroless): pilot-agent and envoy only.
PROXYV2 = Image(("/usr/local/bin",), {"pilot-agent": pilot_agent, "envoy": None})
#: R13.8: kgateway's ``envoy-wrapper``: an Ubuntu-based Envoy image plus wget and envoyinit; no curl
#: [inferred: the coreutils listed].
ENVOY_WRAPPER = Image(("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/"), {
    "wget": wget, "envoy": None, "envoyinit": None, "docker-entrypoint.sh": None, "sh": None, "bash": None,
    "dash": None, "cat": None, "ls": None, "echo": None, "env": None, "grep": None, "sed": None, "head": None,
    "tail": None, "sleep": None, "true": None, "false": None, "id": None, "hostname": None})
#: Which table an image uses: the first entry whose marker is in the image reference.
IMAGES: tuple[tuple[str, Image], ...] = (("proxyv2", PROXYV2), ("envoy-wrapper", ENVOY_WRAPPER))


def image_for(reference: str) -> Image | None:
    """The program table of the image a reference names (the first entry whose marker is in it), or None."""
    return next((img for marker, img in IMAGES if marker in reference), None)


def resolve(image: Image, argv0: str) -> str | None:
    """The program ``argv0`` names in the image (a bare name searched in ``$PATH``, or a full path)."""
    if "/" not in argv0:
        return argv0 if argv0 in image.programs else None
    directory, name = posixpath.split(posixpath.normpath(argv0))
    return name if name in image.programs and directory in image.path else None


def exec_handler(cluster: Cluster, reference: str) -> Callable[[str, str, list[str], bytes], Awaitable[ExecResult]]:
    """The ``ExecHandler`` of a container running ``reference``."""
    image = image_for(reference)

    async def run(namespace: str, pod: str, argv: list[str], stdin: bytes) -> ExecResult:
        name = resolve(image, argv[0]) if image is not None and argv else None
        if name is None:
            raise ProgramNotFound(argv[0] if argv else "")
        program = image.programs[name]  # type: ignore[union-attr]  # name is None whenever image is
        if program is None:
            return ExecResult(stderr=(f"[ambient-lb simulator] {name} is in the image {reference} but the simulator "
                                      "does not model it; see docs/semantics-addendum.md R13.8\n").encode(),
                              exit_code=1)
        return await program(ExecContext(cluster, namespace, pod), argv, stdin)
    return run
