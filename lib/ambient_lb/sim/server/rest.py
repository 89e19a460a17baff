"""The generic REST verbs, one handler each, for every type in the registry.

Who calls it: ``app.py`` dispatches ``/api/...`` and ``/apis/...`` requests here once ``routing``
has named the target. get · list (or watch) · create · update (PUT) · patch (four content types,
``patching.py``); delete and deletecollection are ``deletes.py``. ``dryRun=All`` runs every check
and stores nothing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import bodies, reviews, selectors, watch
from .routing import Target
from .state import ServerState, json_response, list_body, respond_object, table, wants_table
from .status import method_not_allowed, not_found
from .writes import check_rv, commit_create, commit_update, field_manager, prepare_new, prepare_update

Obj = dict[str, Any]


def get_or_404(srv: ServerState, t: Target) -> Obj:
    """The target object; 404 when it does not exist."""
    obj = srv.store.get(t.rt.gr, t.namespace, t.name or "")
    if obj is None:
        raise not_found(t.rt, t.name or "")
    return obj


def predicate(request: web.Request, t: Target) -> selectors.Predicate | None:
    """The request's label and field selectors as one predicate, or None when it has neither."""
    return selectors.combine(selectors.label_selector(request.query.get("labelSelector")),
                             selectors.field_selector(request.query.get("fieldSelector"), t.rt.kind))


async def get(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``GET`` of one object."""
    return respond_object(srv, request, t, get_or_404(srv, t))


async def list_(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``GET`` of a collection: a list, a table, or a watch."""
    pred = predicate(request, t)
    if (request.query.get("watch") or "").lower() in ("true", "1"):
        return await watch.serve(srv, request, t, pred)
    items = srv.store.list(t.rt.gr, t.namespace, pred)
    if wants_table(request):
        return json_response(table(srv, request, t.rt, items))
    return json_response(list_body(srv, t, items))


async def create(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``POST`` to a collection: creates the object (a review is answered, not stored)."""
    if t.name:
        raise method_not_allowed("POST", f"{t.rt.resource}/{t.name}")
    body = await bodies.read(request)
    if t.rt.kind in reviews.KINDS:  # reviews are answered, not stored (R16.10)
        return reviews.answer(srv, request, t, body)
    obj, warnings = prepare_new(srv, request, t, body, field_manager(request))
    if bodies.dry_run(request):
        return respond_object(srv, request, t, obj, 201, warnings)
    return respond_object(srv, request, t, commit_create(srv, t.rt, obj), 201, warnings)


async def update(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``PUT`` of one object: replaces it, if its resourceVersion (when given) is current."""
    body = await bodies.read(request)
    old = get_or_404(srv, t)
    check_rv(t, old, body)
    new, warnings = prepare_update(srv, request, t, old, body, field_manager(request))
    if bodies.dry_run(request):
        return respond_object(srv, request, t, new, 200, warnings)
    return respond_object(srv, request, t, commit_update(srv, t.rt, new), 200, warnings)
