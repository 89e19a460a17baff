"""PATCH in its four content types, and server-side apply (which creates what is absent).

Who calls it: ``rest.py``'s dispatcher for PATCH on an object, and ``subresources.py`` for PATCH on
``/status`` and ``/scale``. The patch engines themselves are pure functions in ``sim/patch.py``;
this module picks one by Content-Type (research §2.7), turns their errors into Status answers, and
sends the result through the common write pipeline.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from . import bodies
from .routing import Target
from .state import ServerState, engine, respond_object
from .status import ApiError, not_found, unsupported_media_type
from .writes import check_rv, commit_create, commit_update, field_manager, prepare_new, prepare_update

Obj = dict[str, Any]
JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE, SMP, APPLY)


def apply_patch(t: Target, ctype: str, old: Obj, body: Any) -> Obj:
    """``old`` patched by ``body`` (not apply); 400/415/422 for patches that cannot be applied."""
    p = engine("patch")
    base = copy.deepcopy(old)
    try:
        if ctype == JSON_PATCH:
            if not isinstance(body, list):
                raise ApiError("BadRequest", 'a json-patch body must be a list of operations, e.g. '
                               '[{"op": "replace", "path": "/spec/replicas", "value": 2}]')
            return p.apply_json_patch(base, body)
        if not isinstance(body, dict):
            raise ApiError("BadRequest", f"a {ctype} body must be a JSON object, e.g. "
                           '{"metadata": {"labels": {"app": "web"}}}')
        if ctype == MERGE:
            return p.apply_merge_patch(base, body)
        if t.rt.crd is not None:
            raise ApiError("UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml")
        return p.apply_strategic_merge_patch(base, body, (t.rt.group, t.rt.kind))
    except ApiError:
        raise
    except p.PatchError as exc:
        raise ApiError("Invalid", f"the server rejected our request due to an error in our request: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ApiError("BadRequest", f"the patch could not be applied: {exc}") from None


async def patch(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``PATCH``: JSON, merge or strategic-merge patch, or server-side apply, by the Content-Type."""
    ctype = bodies.media_type(request)
    if ctype not in PATCH_TYPES:
        raise unsupported_media_type(ctype, ", " + ", ".join(PATCH_TYPES))
    body = await bodies.read(request)
    if ctype == APPLY:
        return await server_side_apply(srv, request, t, body)
    old = srv.store.get(t.rt.gr, t.namespace, t.name or "")
    if old is None:
        raise not_found(t.rt, t.name or "")
    check_rv(t, old, body)
    patched = apply_patch(t, ctype, old, body)
    new, warnings = prepare_update(srv, request, t, old, patched, field_manager(request))
    if bodies.dry_run(request):
        return respond_object(srv, request, t, new, 200, warnings)
    return respond_object(srv, request, t, commit_update(srv, t.rt, new), 200, warnings)


def _conflict(t: Target, conflicts: list[tuple[str, str]]) -> ApiError:
    gv = t.rt.api_version(t.version)
    causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}" using {gv}',
               "field": f if f.startswith(".") else f".{f}"} for m, f in conflicts]
    lines = "\n".join(f"- {c['message'][len('conflict with '):]}: {c['field']}" for c in causes)
    n = len(causes)
    msg = f"Apply failed with {n} conflict{'s' if n != 1 else ''}: " + (
        f"{causes[0]['message']}: {causes[0]['field']}" if n == 1 else f"conflicts with {lines}")
    return ApiError("Conflict", msg, details={"name": t.name, "group": t.rt.group, "kind": t.rt.resource,
                                              "causes": causes})


async def server_side_apply(srv: ServerState, request: web.Request, t: Target, body: Any) -> web.StreamResponse:
    """Server-side apply (research §2.7, §3.3): creates the object when absent (201), otherwise
    merges by field owner; a field another manager owns is a 409 unless ``force=true``."""
    manager = request.query.get("fieldManager")
    if not manager:
        raise ApiError("BadRequest", "PATCH with application/apply-patch+yaml: fieldManager is required "
                       "for apply requests; add ?fieldManager=<your tool>, e.g. fieldManager=kubectl")
    if not isinstance(body, dict):
        raise ApiError("BadRequest", "an apply-patch body must be a YAML or JSON object with apiVersion, "
                       "kind and metadata.name")
    md = found if isinstance(found := body.get("metadata"), dict) else None
    if md is None or md.get("name") != t.name:
        raise ApiError("BadRequest", f"metadata.name in the applied object ({(md or {}).get('name')!r}) must "
                       f"equal the name on the URL ({t.name!r})")
    p = engine("patch")
    old = srv.store.get(t.rt.gr, t.namespace, t.name or "")
    force = bodies.bool_param(request, "force")
    applied = copy.deepcopy(body)
    applied.setdefault("apiVersion", t.rt.api_version(t.version))
    applied.setdefault("kind", t.rt.kind)
    if t.rt.namespaced:
        applied["metadata"].setdefault("namespace", t.namespace)
    try:
        result = p.server_side_apply(copy.deepcopy(old) if old else None, applied, manager,
                                     force=force, now=srv.now())
    except p.ApplyConflict as exc:
        raise _conflict(t, list(exc.conflicts)) from None
    except p.PatchError as exc:
        raise ApiError("Invalid", f"the applied object could not be merged: {exc}") from None
    dry = bodies.dry_run(request)
    if old is None:
        obj, warnings = prepare_new(srv, request, t, result, manager, apply=True)
        return respond_object(srv, request, t, obj if dry else commit_create(srv, t.rt, obj), 201, warnings)
    new, warnings = prepare_update(srv, request, t, old, result, manager, operation="Apply")
    return respond_object(srv, request, t, new if dry else commit_update(srv, t.rt, new), 200, warnings)
