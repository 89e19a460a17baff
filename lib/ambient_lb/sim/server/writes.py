"""The write pipeline shared by create, update, patch and apply: shape, identity, defaults, checks.

Who calls it: ``rest.py`` and ``subresources.py``. Order as in a real apiserver: decode (with
``fieldValidation``), fill defaults, validate, record managed fields, then store. Every refusal
happens before the store changes.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from ..resources import ResourceType
from ..store import GR, StoreError
from . import immutable, validation
from .defaults import apply_defaults
from .routing import Target
from .state import CRD_GR, ServerState, engine
from .status import ApiError, already_exists, conflict, not_found

Obj = dict[str, Any]
NS_GR = GR("", "namespaces")
SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "generation", "selfLink")
# status on create is kept for these (bootstrap-like kinds); for others the status subresource owns it
KEEP_STATUS_ON_CREATE = {("", "Node"), ("", "Event")}
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def field_manager(request: web.Request) -> str:
    """The request's field manager: ``fieldManager``, else the User-Agent's program name; 400 when too long."""
    m = request.query.get("fieldManager")
    if m:
        if len(m) > 128:
            raise ApiError("BadRequest", f"fieldManager: Too long: may not be longer than 128, got {len(m)}")
        return m
    ua = request.headers.get("User-Agent") or "unknown"
    return ua.split("/")[0][:128] or "unknown"


def validation_mode(request: web.Request) -> str:
    """The ``fieldValidation`` mode (Strict, Warn, Ignore, or "" for the default); 400 for another."""
    mode = request.query.get("fieldValidation", "")
    if mode not in ("", "Strict", "Warn", "Ignore"):
        raise ApiError("BadRequest", f'fieldValidation must be one of "Strict", "Warn" or "Ignore", '
                       f'got "{mode}"; kubectl sends "Strict" by default')
    return mode


def identify(rt: ResourceType, t: Target, obj: Obj) -> None:
    """apiVersion and kind must name the addressed type (filled in when missing)."""
    want = rt.api_version(t.version)
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version and api_version not in {rt.api_version(v) for v in rt.versions}:
        raise ApiError("BadRequest", f"the API version in the data ({api_version}) does not match the "
                       f"expected API version ({want})")
    if kind and kind != rt.kind:
        raise ApiError("BadRequest", f"the kind in the data ({kind}) does not match the expected kind "
                       f"({rt.kind}); send it to the {kind} endpoint instead")
    obj["apiVersion"], obj["kind"] = rt.api_version(rt.version), rt.kind


def place(srv: ServerState, rt: ResourceType, t: Target, obj: Obj, *, creating: bool) -> None:
    """Fix metadata.namespace from the URL; on create the namespace must exist and be Active."""
    md = obj["metadata"]
    if not rt.namespaced:
        md.pop("namespace", None)
        return
    if t.namespace is None:
        raise ApiError("BadRequest", f"{rt.resource} are namespaced: send the request to "
                       f"/{'apis/' + rt.group if rt.group else 'api'}/{t.version}/namespaces/<ns>/{rt.resource}")
    if md.get("namespace") and md["namespace"] != t.namespace:
        raise ApiError("BadRequest", "the namespace of the provided object does not match the namespace "
                       f"sent on the request ({md['namespace']} vs {t.namespace})")
    md["namespace"] = t.namespace
    if creating:
        ns = srv.store.get(NS_GR, None, t.namespace)
        if ns is None:
            raise ApiError("NotFound", f'namespaces "{t.namespace}" not found',
                           details={"name": t.namespace, "kind": "namespaces"})
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise ApiError("Forbidden", f'{rt.resource} "{md.get("name") or md.get("generateName", "")}" is '
                           f"forbidden: unable to create new content in namespace {t.namespace} because "
                           "it is being terminated")


def _generate_name(srv: ServerState, rt: ResourceType, md: Obj) -> None:
    if md.get("name") or not md.get("generateName"):
        return
    for _ in range(100):
        name = md["generateName"] + "".join(srv.store.rng.choice(_NAME_CHARS) for _ in range(5))
        if srv.store.get(rt.gr, md.get("namespace"), name) is None:
            md["name"] = name
            return
    raise ApiError("AlreadyExists", f"could not generate a unique name from {md['generateName']!r}")


def admit(srv: ServerState, rt: ResourceType, op: str, obj: Obj, old: Obj | None) -> Obj:
    """Run the admission chain the controllers registered (``cluster.extensions["admission"]``:
    defaulting and allocation, e.g. a Service's clusterIP), then the server's own defaults for what
    the chain leaves out. A chain error with reason Invalid becomes 422 with its causes."""
    for fn in srv.cluster.extensions.get("admission", []):
        try:
            obj = fn(op, rt.gr, obj, old)
        except StoreError as exc:
            causes = getattr(exc, "causes", None) or []
            md = obj.get("metadata") or {}
            code = 422 if exc.reason == "Invalid" else None
            raise ApiError(exc.reason, str(exc), code=code, details={
                "name": md.get("name", ""), "kind": rt.kind, **({"group": rt.group} if rt.group else {}),
                "causes": causes}) from None
    apply_defaults(rt.group, rt.kind, obj, srv.allocator)
    return obj


def check_fields(srv: ServerState, request: web.Request, rt: ResourceType, t: Target, obj: Obj,
                 *, apply: bool = False) -> list[str]:
    """Field validation of an object against its type's schema: the warnings (Warn), or 400/422 (Strict)."""
    tree = validation.schema_for(rt, srv.crd_for(rt), t.version)
    return validation.field_validation(rt, obj, validation_mode(request), tree, apply=apply)


def prepare_new(srv: ServerState, request: web.Request, t: Target, body: Any, manager: str,
                *, apply: bool = False) -> tuple[Obj, list[str]]:
    """A client's object, made ready to store as a new object; returns (object, warnings)."""
    rt = t.rt
    obj = validation.check_shape(rt, body)
    identify(rt, t, obj)
    warnings = check_fields(srv, request, rt, t, obj, apply=apply)
    place(srv, rt, t, obj, creating=True)
    md = obj["metadata"]
    for k in SERVER_SET:
        md.pop(k, None)
    _generate_name(srv, rt, md)
    if "status" in rt.subresources and (rt.group, rt.kind) not in KEEP_STATUS_ON_CREATE:
        obj.pop("status", None)
    validation.check_types(rt, obj)
    obj = admit(srv, rt, "CREATE", obj, None)
    validation.validate(rt, obj, srv.crd_for(rt), t.version)
    if not apply:
        obj = engine("patch").record_update(None, obj, manager, "Update", srv.now())
    return obj, warnings


def prepare_update(srv: ServerState, request: web.Request, t: Target, old: Obj, new: Any, manager: str,
                   *, operation: str = "Update") -> tuple[Obj, list[str]]:
    """A replacement for ``old`` (PUT, patch result, apply result), ready to store."""
    rt = t.rt
    new = validation.check_shape(rt, new)
    identify(rt, t, new)
    warnings = check_fields(srv, request, rt, t, new, apply=operation == "Apply")
    md, omd = new["metadata"], old["metadata"]
    if md.get("name") and md["name"] != omd["name"]:
        raise ApiError("BadRequest", f"the name of the object ({md['name']}) does not match the name on "
                       f"the URL ({omd['name']})")
    place(srv, rt, t, new, creating=False)
    md["name"] = omd["name"]
    for k in SERVER_SET:
        if k in omd:
            md[k] = omd[k]
        else:
            md.pop(k, None)
    if t.sub == "status":
        new = _status_only(old, new)
    elif "status" in rt.subresources:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    validation.check_types(rt, new)
    new = admit(srv, rt, "UPDATE", new, old)
    validation.validate(rt, new, srv.crd_for(rt), t.version)
    immutable.check(rt, new, old)
    if operation != "Apply":
        new = engine("patch").record_update(old, new, manager, operation, srv.now())
    return new, warnings


def _status_only(old: Obj, new: Obj) -> Obj:
    out = copy.deepcopy(old)
    if "status" in new:
        out["status"] = new["status"]
    else:
        out.pop("status", None)
    out["metadata"]["managedFields"] = new["metadata"].get("managedFields", out["metadata"].get("managedFields"))
    return out


def check_rv(t: Target, old: Obj, body: Any) -> None:
    """A resourceVersion in the body is a precondition: a stale one is 409 Conflict."""
    md = body.get("metadata") if isinstance(body, dict) else None
    rv = md.get("resourceVersion") if isinstance(md, dict) else None
    if rv and rv != old["metadata"]["resourceVersion"]:
        raise conflict(t.rt, old["metadata"]["name"])


def commit_create(srv: ServerState, rt: ResourceType, obj: Obj) -> Obj:
    """Stores a new object (409 when it exists); a new CRD's resource is served at once."""
    try:
        stored = srv.store.create(rt.gr, obj)
    except StoreError as exc:
        raise already_exists(rt, obj["metadata"]["name"]) from exc
    if rt.gr == CRD_GR:
        crd_created(srv, stored)
    return stored


def commit_update(srv: ServerState, rt: ResourceType, obj: Obj) -> Obj:
    """Stores an updated object (404 when it is gone); a changed CRD's resource is re-served."""
    try:
        stored = srv.store.update(rt.gr, obj)
    except StoreError as exc:
        raise not_found(rt, obj["metadata"]["name"]) from exc
    if rt.gr == CRD_GR and srv.store.get(rt.gr, None, stored["metadata"]["name"]) is not None:
        crd_created(srv, stored)
    return stored


# ---- CRDs: served the moment they are stored (research §2.2) ------------------------------------
def crd_created(srv: ServerState, crd: Obj) -> None:
    """Register the CRD's kind unless the CRD controller (a store listener) already did."""
    spec = crd.get("spec") or {}
    gr = GR(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
    rt = srv.cluster.registry.get(gr)
    served = {v.get("name") for v in spec.get("versions") or [] if v.get("served", True)}
    if rt is not None and set(rt.versions) == served and rt.crd is not None \
            and rt.crd.get("metadata", {}).get("uid") == crd["metadata"].get("uid"):
        if srv.store.get(CRD_GR, None, crd["metadata"]["name"]) is not None:
            _ensure_established(srv, crd)
        return
    srv.cluster.registry.register_crd(crd)
    _ensure_established(srv, crd)


def _ensure_established(srv: ServerState, crd: Obj) -> None:
    conds = ((crd.get("status") or {}).get("conditions")) or []
    if any(c.get("type") == "Established" for c in conds):
        return
    now, spec = srv.now(), crd.get("spec") or {}

    def establish(o: Obj) -> None:
        st = o.setdefault("status", {})
        st["acceptedNames"] = dict(spec.get("names") or {})
        st["storedVersions"] = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        st["conditions"] = [
            {"type": t, "status": "True", "lastTransitionTime": now, "reason": r, "message": m}
            for t, r, m in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                            ("Established", "InitialNamesAccepted", "the initial names have been accepted"))]
    srv.store.mutate(CRD_GR, None, crd["metadata"]["name"], establish)


def crd_removed(srv: ServerState, crd: Obj) -> None:
    """Stop serving a deleted CRD's kind and drop its objects (unless the controller already did)."""
    spec = crd.get("spec") or {}
    gr = GR(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
    for o in list(srv.store.list(gr)):
        srv.store.remove(gr, o["metadata"].get("namespace"), o["metadata"]["name"])
    rt = srv.cluster.registry.get(gr)
    if rt is not None and rt.crd is not None:
        srv.cluster.registry.remove(gr)
