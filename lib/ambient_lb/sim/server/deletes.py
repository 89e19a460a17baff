"""DELETE of one object and of a collection, answered as a 1.31 kube-apiserver answers them (R16.1–R16.7).

Who calls it: ``app.py`` routes ``DELETE …/{name}`` to ``delete`` and ``DELETE …/{resource}`` to
``delete_collection``. The answer depends on what happened and on the resource's storage:

- the object stays (a grace period or finalizers hold it): 200 with the object as stored, carrying
  ``deletionTimestamp`` (202 instead when the client sent ``orphanDependents: false``, R16.2);
- the object went at once: the deleted object for the storages that return it (pods, services,
  serviceaccounts: ``ReturnDeletedObject``), else a ``Success`` Status whose details name the
  resource (R16.1);
- a collection: the list of the objects as they were listed before the deletes (R16.4).

Who decides the garbage-collection finalizers is ``gc_finalizers``: the request's policy, else a
finalizer already there, else the resource's default, which orphans for ``batch/v1`` Jobs and
``v1`` ReplicationControllers (R16.3). A second DELETE of a Terminating namespace is a 409 (R16.5).
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from ..clock import to_rfc3339
from ..store import GR
from . import bodies
from .rest import predicate
from .routing import Target
from .state import CRD_GR, ServerState, json_response, list_body, respond_object
from .status import ApiError, conflict, not_found, success
from .writes import crd_removed

Obj = dict[str, Any]
POD_GR, NS_GR = GR("", "pods"), GR("", "namespaces")

# R16.1: storages built with ReturnDeletedObject (pkg/registry/core/{pod,service,serviceaccount}/storage);
# the other served storages answer a Success Status when the object goes at once
RETURNS_DELETED_OBJECT = frozenset({POD_GR, GR("", "services"), GR("", "serviceaccounts")})
# R16.3: DefaultGarbageCollectionPolicy is OrphanDependents for these (group, version, resource);
# everything else served defaults to DeleteDependents (Background: no finalizer)
ORPHAN_BY_DEFAULT = frozenset({("batch", "v1", "jobs"), ("", "v1", "replicationcontrollers")})
# R16.3: a DELETE that leaves the policy to the default gets this warning (job storage deleteOptionWarnings)
DEFAULT_POLICY_WARNINGS = {
    ("batch", "v1", "jobs"): "child pods are preserved by default when jobs are deleted; set "
                             "propagationPolicy=Background to remove them or set propagationPolicy=Orphan to "
                             "suppress this warning"}
GC_FINALIZERS = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}
POLICIES = ("Foreground", "Background", "Orphan")


# ---- options ------------------------------------------------------------------------------------------
def delete_options(request: web.Request, body: Any) -> Obj:
    """DeleteOptions from the body and the query, checked as ``ValidateDeleteOptions`` does (R16.6)."""
    if body is not None and not isinstance(body, dict):
        raise ApiError("BadRequest", 'the body of a DELETE must be DeleteOptions, e.g. '
                       '{"propagationPolicy": "Background", "gracePeriodSeconds": 0}')
    opts = dict(body or {})
    grace = bodies.int_param(request, "gracePeriodSeconds")
    if grace is not None:
        opts["gracePeriodSeconds"] = grace
    for key in ("propagationPolicy", "orphanDependents"):
        if request.query.get(key):
            opts[key] = request.query[key] if key == "propagationPolicy" else \
                request.query[key].lower() in ("1", "t", "true")
    causes = []
    policy = opts.get("propagationPolicy")
    if opts.get("orphanDependents") is not None and policy is not None:
        causes.append(("FieldValueInvalid", "propagationPolicy",
                       f'Invalid value: "{policy}": orphanDependents and deletionPropagation cannot be both set'))
    if policy is not None and policy not in POLICIES:
        causes.append(("FieldValueNotSupported", "propagationPolicy", f'Unsupported value: "{policy}": supported '
                       'values: "Foreground", "Background", "Orphan", "nil"'))
    if causes:
        text = causes[0][1] + ": " + causes[0][2] if len(causes) == 1 else \
            "[" + ", ".join(f"{f}: {m}" for _, f, m in causes) + "]"
        raise ApiError("Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: {text}', details={
            "group": "meta.k8s.io", "kind": "DeleteOptions",
            "causes": [{"reason": r, "message": m, "field": f} for r, f, m in causes]})
    g = opts.get("gracePeriodSeconds")
    if g is not None and (not isinstance(g, int) or isinstance(g, bool)):
        raise ApiError("BadRequest", f"gracePeriodSeconds must be an integer, got {g!r}")
    if isinstance(g, int) and g < 0:
        opts["gracePeriodSeconds"] = 1  # BeforeDelete: a negative grace period is treated as 1 s
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


def gc_policy(t: Target, obj: Obj, opts: Obj) -> str:
    """R16.3 (``shouldOrphanDependents``/``shouldDeleteDependents``): the request, else a finalizer
    already on the object, else the resource's default for the version addressed."""
    if opts.get("orphanDependents") is not None:
        return "Orphan" if opts["orphanDependents"] else "Background"
    if opts.get("propagationPolicy"):
        return str(opts["propagationPolicy"])
    fins = obj["metadata"].get("finalizers") or []
    for policy, fin in GC_FINALIZERS.items():
        if fin in fins:
            return policy
    return "Orphan" if (t.rt.group, t.version, t.rt.resource) in ORPHAN_BY_DEFAULT else "Background"


def gc_finalizers(t: Target, obj: Obj, opts: Obj) -> list[str]:
    """The object's finalizers with the GC ones replaced by what ``gc_policy`` asks for."""
    keep = [f for f in obj["metadata"].get("finalizers") or [] if f not in GC_FINALIZERS.values()]
    extra = GC_FINALIZERS.get(gc_policy(t, obj, opts))
    return keep + ([extra] if extra else [])


def warnings_for(t: Target, opts: Obj) -> list[str]:
    """The warning the API server adds for a delete without a propagation policy on this resource, if any."""
    if opts.get("propagationPolicy") or opts.get("orphanDependents") is not None:
        return []
    text = DEFAULT_POLICY_WARNINGS.get((t.rt.group, t.version, t.rt.resource))
    return [text] if text else []


# ---- one object -------------------------------------------------------------------------------------
def _pod_grace(obj: Obj, opts: Obj) -> int:
    """R6.1: default grace is spec.terminationGracePeriodSeconds (30); unscheduled or finished pods go at once."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    g = opts.get("gracePeriodSeconds")
    return int(spec.get("terminationGracePeriodSeconds", 30) if g is None else g)


def delete_one(srv: ServerState, t: Target, obj: Obj, opts: Obj, dry: bool) -> tuple[Obj, bool]:
    """Delete (or start deleting) one object; returns (the object to answer with, gone now?)."""
    if t.rt.gr == POD_GR:
        return _delete_pod(srv, t, obj, opts, dry)
    if t.rt.gr == NS_GR:
        return _delete_namespace(srv, t, obj, dry)
    md = obj["metadata"]
    finalizers = gc_finalizers(t, obj, opts)
    if not finalizers:
        return (obj, True) if dry else (_remove(srv, t, obj), True)
    if md.get("deletionTimestamp") and finalizers == (md.get("finalizers") or []):
        return obj, False
    return _mark(srv, t.rt.gr, obj, dry, grace=0, finalizers=finalizers, keep_stamp=True), False


def _delete_pod(srv: ServerState, t: Target, obj: Obj, opts: Obj, dry: bool) -> tuple[Obj, bool]:
    md = obj["metadata"]
    grace = _pod_grace(obj, opts)
    if md.get("deletionTimestamp") and 0 < (md.get("deletionGracePeriodSeconds") or 0) <= grace:
        return obj, False  # graceful deletion already pending with a shorter period
    marked = _mark(srv, POD_GR, obj, dry, grace=grace)
    if grace > 0 or md.get("finalizers"):
        return marked, False
    return (marked, True) if dry else (_remove(srv, t, marked), True)


def _delete_namespace(srv: ServerState, t: Target, obj: Obj, dry: bool) -> tuple[Obj, bool]:
    """R16.5: the first DELETE starts termination; another while ``spec.finalizers`` remain is 409."""
    if obj["metadata"].get("deletionTimestamp"):
        if (obj.get("spec") or {}).get("finalizers"):
            raise conflict(t.rt, obj["metadata"]["name"], "The system is ensuring all content is removed from "
                           "this namespace.  Upon completion, this namespace will automatically be purged by "
                           "the system.")
        return (obj, True) if dry else (_remove(srv, t, obj), True)
    return _mark(srv, NS_GR, obj, dry, phase="Terminating"), False


def _remove(srv: ServerState, t: Target, obj: Obj) -> Obj:
    md = obj["metadata"]
    gone = srv.store.remove(t.rt.gr, md.get("namespace"), md["name"]) or obj
    if t.rt.gr == CRD_GR:
        crd_removed(srv, obj)
    return gone


def _mark(srv: ServerState, gr: GR, obj: Obj, dry: bool, *, grace: int = 0, phase: str | None = None,
          finalizers: list[str] | None = None, keep_stamp: bool = False) -> Obj:
    new = copy.deepcopy(obj)
    md = new["metadata"]
    if not (keep_stamp and md.get("deletionTimestamp")):
        md["deletionTimestamp"] = to_rfc3339(srv.cluster.clock.now() + grace)
    md["deletionGracePeriodSeconds"] = grace
    if finalizers is not None:
        md["finalizers"] = finalizers
    if phase:
        new.setdefault("status", {})["phase"] = phase
    return new if dry else srv.store.update(gr, new)


# ---- handlers ---------------------------------------------------------------------------------------
def _answer(srv: ServerState, request: web.Request, t: Target, obj: Obj, out: Obj, gone: bool,
            opts: Obj, warnings: list[str]) -> web.StreamResponse:
    headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
    if gone and t.rt.gr not in RETURNS_DELETED_OBJECT:
        md = obj["metadata"]
        return json_response(success(t.rt, md["name"], md.get("uid")), headers=headers)
    code = 202 if not gone and opts.get("orphanDependents") is False else 200
    return respond_object(srv, request, t, out, code, warnings)


async def delete(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """``DELETE`` of one object: preconditions, finalizers, grace period, then the object (or Status) answered."""
    opts = delete_options(request, await bodies.read(request))
    obj = srv.store.get(t.rt.gr, t.namespace, t.name or "")
    if obj is None:
        raise not_found(t.rt, t.name or "")
    _preconditions(t, obj, opts)
    out, gone = delete_one(srv, t, obj, opts, bodies.dry_run(request, opts))
    return _answer(srv, request, t, obj, out, gone, opts, warnings_for(t, opts))


async def delete_collection(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """R16.4: every listed object is deleted as one DELETE would; the answer is the list as listed."""
    opts = delete_options(request, await bodies.read(request))
    dry = bodies.dry_run(request, opts)
    items = list(srv.store.list(t.rt.gr, t.namespace, predicate(request, t)))
    for o in items:
        current = srv.store.get(t.rt.gr, o["metadata"].get("namespace"), o["metadata"]["name"])
        if current is not None:  # an earlier delete may have taken it (a NotFound is ignored)
            delete_one(srv, t, current, dict(opts), dry)
    warnings = warnings_for(t, opts)
    headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
    return json_response(list_body(srv, t, items), headers=headers)
