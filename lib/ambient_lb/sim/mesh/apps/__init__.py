"""The backend images the simulator models, one module per image family (R14).

| image (repository, any tag or digest) | module | what it does |
| --- | --- | --- |
| ``docker.io/mccutchen/go-httpbin``, ``ghcr.io/mccutchen/go-httpbin`` | ``httpbin`` | the guide's ``in-ambient`` app: ``/hostname``, ``/status/<code>``, ``/headers``, ... on ``$PORT`` (8080) |
| ``docker.io/library/nginx`` (and its mirrors) | ``nginx`` | nginx from its configuration: the image's files, hidden by ConfigMap mounts; ``return``, locations, default pages, access log |
| ``nginxinc/nginx-unprivileged``, ``nginx/nginx-unprivileged`` | ``nginx`` | the same, as a non-root master (default port 8080) |
| anything else | ``registry.Unmodelled`` | runs, passes its probes, answers 404 naming the image |

``base`` has the shared shapes, ``registry`` the table, ``runtime`` the ``AppRuntime`` the kubelet and
the data plane talk to, ``faults`` the simulator's fault annotations (tests and drills only).
"""

from .base import AppRequest, AppResponse, Container, ImageRef, Launch
from .registry import lookup, register
from .runtime import AppRuntime

__all__ = ["AppRequest", "AppResponse", "AppRuntime", "Container", "ImageRef", "Launch", "lookup", "register"]
