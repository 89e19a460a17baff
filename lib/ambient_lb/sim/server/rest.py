"""The generic REST verbs, one handler each, for every type in the registry.

Who calls it: ``app.py`` dispatches ``/api/...`` and ``/apis/...`` requests here once ``routing``
has named the target. get · list (or watch) · create · update (PUT) · patch (four content types,
``patching.py``) · delete (graceful for pods, Terminating for namespaces, finalizers) ·
deletecollection. ``dryRun=All`` runs every check and stores nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from ..store import GR
from . import bodies, selectors, watch
from .routing import Target
from .state import CRD_GR, ServerState, json_response, list_body, respond_object, table, wants_table
from .status import ApiError, conflict, method_not_allowed, not_found, success
from .writes import (check_rv, commit_create, commit_update, crd_removed, field_manager, prepare_new,
                     prepare_update)

Obj = dict[str, Any]
POD_GR = GR("", "pods")
NS_GR = GR("", "namespaces")


def get_or_404(srv: ServerState, t: Target) -> Obj:
    obj = srv.store.get(t.rt.gr, t.namespace, t.name or "")
    if obj is None:
        raise not_found(t.rt, t.name or "")
    return obj


def predicate(request: web.Request, t: Target) -> selectors.Predicate | None:
    return selectors.combine(selectors.label_selector(request.query.get("labelSelector")),
                             selectors.field_selector(request.query.get("fieldSelector"), t.rt.kind))


async def get(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    return respond_object(srv, request, t, get_or_404(srv, t))


async def list_(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    pred = predicate(request, t)
    if (request.query.get("watch") or "").lower() in ("true", "1"):
        return await watch.serve(srv, request, t, pred)
    items = srv.store.list(t.rt.gr, t.namespace, pred)
    if wants_table(request):
        return json_response(table(srv, request, t.rt, items))
    return json_response(list_body(srv, t, items))


REVIEW_STATUS = {
    "SelfSubjectAccessReview": {"allowed": True, "reason": "the ambient-lb cluster-in-a-box allows every request"},
    "SelfSubjectRulesReview": {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                               "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                               "incomplete": False},
}


async def create(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    if t.name:
        raise method_not_allowed("POST", f"{t.rt.resource}/{t.name}")
    body = await bodies.read(request)
    if t.rt.kind in REVIEW_STATUS:  # authorization reviews are answered, not stored
        review = body if isinstance(body, dict) else {}
        return json_response({"kind": t.rt.kind, "apiVersion": t.rt.api_version(t.version), "metadata": {},
                              "spec": review.get("spec") or {}, "status": REVIEW_STATUS[t.rt.kind]}, 201)
    obj, warnings = prepare_new(srv, request, t, body, field_manager(request))
    if bodies.dry_run(request):
        return respond_object(srv, request, t, obj, 201, warnings)
    return respond_object(srv, request, t, commit_create(srv, t.rt, obj), 201, warnings)


async def update(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    body = await bodies.read(request)
    old = get_or_404(srv, t)
    check_rv(t, old, body)
    new, warnings = prepare_update(srv, request, t, old, body, field_manager(request))
    if bodies.dry_run(request):
        return respond_object(srv, request, t, new, 200, warnings)
    return respond_object(srv, request, t, commit_update(srv, t.rt, new), 200, warnings)


# ---- delete ---------------------------------------------------------------------------------------
def _delete_options(request: web.Request, body: Any) -> Obj:
    if body is not None and not isinstance(body, dict):
        raise ApiError("BadRequest", 'the body of a DELETE must be DeleteOptions, e.g. '
                       '{"propagationPolicy": "Background", "gracePeriodSeconds": 0}')
    opts = dict(body or {})
    grace = bodies.int_param(request, "gracePeriodSeconds")
    if grace is not None:
        opts["gracePeriodSeconds"] = grace
    if request.query.get("propagationPolicy"):
        opts["propagationPolicy"] = request.query["propagationPolicy"]
    policy = opts.get("propagationPolicy")
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise ApiError("BadRequest", f'propagationPolicy must be "Background", "Foreground" or "Orphan", '
                       f'got "{policy}"')
    g = opts.get("gracePeriodSeconds")
    if g is not None and (not isinstance(g, int) or isinstance(g, bool) or g < 0):
        raise ApiError("BadRequest", f"gracePeriodSeconds must be a non-negative integer, got {g!r}")
    return opts


def _preconditions(t: Target, obj: Obj, opts: Obj) -> None:
    pre = opts.get("preconditions") or {}
    md = obj["metadata"]
    if pre.get("uid") and pre["uid"] != md.get("uid"):
        raise conflict(t.rt, md["name"], f"Precondition failed: UID in precondition: {pre['uid']}, "
                       f"UID in object meta: {md.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
        raise conflict(t.rt, md["name"], f"Precondition failed: ResourceVersion in precondition: "
                       f"{pre['resourceVersion']}, ResourceVersion in object meta: {md.get('resourceVersion')}")


def _pod_grace(obj: Obj, opts: Obj) -> int:
    """R6.1: default grace is spec.terminationGracePeriodSeconds (30); unscheduled or finished pods go at once."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    g = opts.get("gracePeriodSeconds")
    return int(spec.get("terminationGracePeriodSeconds", 30) if g is None else g)


def delete_one(srv: ServerState, t: Target, obj: Obj, opts: Obj, dry: bool) -> tuple[Obj, bool]:
    """Delete (or start deleting) one object; returns (object to answer with, gone now?)."""
    gr, md = t.rt.gr, obj["metadata"]
    ns, name = md.get("namespace"), md["name"]
    if gr == POD_GR:
        grace = _pod_grace(obj, opts)
        if grace == 0 and not md.get("finalizers"):
            return obj, (dry or _remove(srv, t, obj))
        if md.get("deletionTimestamp") and (md.get("deletionGracePeriodSeconds") or 0) <= grace:
            return obj, False
        return _mark(srv, gr, obj, dry, grace=grace), False
    if gr == NS_GR:
        if md.get("deletionTimestamp"):
            return obj, False
        return _mark(srv, gr, obj, dry, phase="Terminating"), False
    finalizers = list(md.get("finalizers") or [])
    extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(opts.get("propagationPolicy") or "")
    if extra and extra not in finalizers and not md.get("deletionTimestamp"):
        finalizers.append(extra)
    if not finalizers:
        return obj, (dry or _remove(srv, t, obj))
    if md.get("deletionTimestamp"):
        return obj, False
    return _mark(srv, gr, obj, dry, finalizers=finalizers), False


def _remove(srv: ServerState, t: Target, obj: Obj) -> bool:
    md = obj["metadata"]
    srv.store.remove(t.rt.gr, md.get("namespace"), md["name"])
    if t.rt.gr == CRD_GR:
        crd_removed(srv, obj)
    return True


def _mark(srv: ServerState, gr: GR, obj: Obj, dry: bool, *, grace: int = 0, phase: str | None = None,
          finalizers: list[str] | None = None) -> Obj:
    new = copy.deepcopy(obj)
    md = new["metadata"]
    md["deletionTimestamp"] = _in(srv, grace)
    md["deletionGracePeriodSeconds"] = grace
    if finalizers is not None:
        md["finalizers"] = finalizers
    if phase:
        new.setdefault("status", {})["phase"] = phase
    return new if dry else srv.store.update(gr, new)


def _in(srv: ServerState, seconds: int) -> str:
    from ..clock import to_rfc3339
    return to_rfc3339(srv.cluster.clock.now() + seconds)


async def delete(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    body = await bodies.read(request)
    opts = _delete_options(request, body)
    obj = get_or_404(srv, t)
    _preconditions(t, obj, opts)
    out, gone = delete_one(srv, t, obj, opts, bodies.dry_run(request, opts))
    if gone and t.rt.gr != POD_GR:
        return json_response(success(t.rt, obj["metadata"]["name"], obj["metadata"].get("uid")))
    return respond_object(srv, request, t, out)


async def delete_collection(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    body = await bodies.read(request)
    opts = _delete_options(request, body)
    dry = bodies.dry_run(request, opts)
    items = srv.store.list(t.rt.gr, t.namespace, predicate(request, t))
    out = [delete_one(srv, t, o, opts, dry)[0] for o in list(items)]
    return json_response(list_body(srv, t, out))
