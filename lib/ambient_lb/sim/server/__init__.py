"""The simulator's Kubernetes API server (aiohttp): ``make_app(cluster, token)``.

Modules, each named for what it does: ``app`` (routing, auth, errors, lifecycle), ``routing``
(paths → targets), ``rest`` (verbs), ``patching`` (PATCH and server-side apply), ``writes`` (the
write pipeline), ``watch`` + ``watch_hub`` (watch streams, the store listener that feeds them),
``subresources`` (status, scale, log, proxy), ``discovery``, ``openapi``, ``selectors``,
``validation`` + ``schema`` (names, required and unknown fields), ``defaults``, ``bodies`` (request
decoding), ``state`` (shared state, responses), ``status`` (Status errors).
"""

from __future__ import annotations

from .app import make_app

__all__ = ["make_app"]
