"""The minimal OpenAPI v3 that lets ``kubectl apply`` run with its default validation.

Who calls it: ``app.py`` for ``/openapi/v3`` and ``/openapi/v3/{api/v1 | apis/g/v}``. kubectl ≥ 1.29
looks for a PATCH operation per kind that declares the ``fieldValidation`` parameter; finding one,
it leaves validation to the server (``?fieldValidation=Strict``), which ``validation.py`` honours
(research §2.3). No schemas are published, so ``kubectl explain`` is not supported. Each document's
``hash`` changes whenever its kinds change, since kubectl caches documents by it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..resources import Registry, ResourceType


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _types_by_gv(registry: Registry) -> dict[str, list[tuple[ResourceType, str]]]:
    out: dict[str, list[tuple[ResourceType, str]]] = {}
    for rt in registry.all():
        for v in rt.versions:
            out.setdefault(_gv_path(rt.group, v), []).append((rt, v))
    return out


def gv_document(registry: Registry, gv_path: str) -> dict[str, Any] | None:
    """The per-group-version document: one PATCH op (with ``fieldValidation``) per kind."""
    types = _types_by_gv(registry).get(gv_path)
    if types is None:
        return None
    paths: dict[str, Any] = {}
    for rt, v in sorted(types, key=lambda p: p[0].resource):
        ns = "/namespaces/{namespace}" if rt.namespaced else ""
        paths[f"/{gv_path}{ns}/{rt.resource}/{{name}}"] = {"patch": {
            "x-kubernetes-group-version-kind": {"group": rt.group, "version": v, "kind": rt.kind},
            "x-kubernetes-action": "patch",
            "parameters": [{"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                           for p in ("dryRun", "fieldManager", "fieldValidation", "force")],
            "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.31.0"},
            "paths": paths, "components": {"schemas": {}}}


def _hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()


def index(registry: Registry) -> dict[str, Any]:
    """The OpenAPI v3 index: each group/version's document URL with its hash."""
    paths = {}
    for gv in sorted(_types_by_gv(registry)):
        doc = gv_document(registry, gv)
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(doc or {})}"}
    return {"paths": paths}
