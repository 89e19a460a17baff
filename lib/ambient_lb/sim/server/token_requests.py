"""``POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token``: the TokenRequest subresource (R20.7).

Who calls it: ``subresources.HANDLERS["token"]`` (``kubectl create token <sa>``, a client's
``create_namespaced_service_account_token``). The body is an ``authentication.k8s.io/v1``
TokenRequest; the answer (201) is the same object with ``status.token`` and
``status.expirationTimestamp``, and its spec defaulted: ``expirationSeconds`` 3600,
``audiences`` the API server's (``https://kubernetes.default.svc.cluster.local``).

- the ServiceAccount does not exist: 404 ``serviceaccounts "<name>" not found``;
- ``expirationSeconds`` under 600: 422 ``spec.expirationSeconds: Invalid value: <n>: may not specify a
  duration less than 10 minutes``;
- ``boundObjectRef`` to a Pod, Secret or Node that does not exist: 404 ``<resource> "<name>" not found``;
  with a ``uid`` that is not the object's: 409 ``the UID in the bound object reference (<a>) does not
  match the UID in record. The object might have been deleted and then recreated``;
- ``boundObjectRef`` of another kind: 400 (a cluster accepts Pod, Secret and Node).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import bodies
from .rest import get_or_404
from .routing import Target
from .sa_tokens import BOUND_KINDS, DEFAULT_SECONDS, ISSUER, MIN_SECONDS, ServiceAccountTokens, expiration_text
from .state import ServerState, json_response
from .status import ApiError, method_not_allowed

Obj = dict[str, Any]


async def token(srv: ServerState, request: web.Request, t: Target) -> web.StreamResponse:
    """Issue a token for the ServiceAccount ``t.name`` (R20.7)."""
    if request.method != "POST":
        raise method_not_allowed(request.method, "serviceaccounts/token")
    get_or_404(srv, Target(t.rt, t.version, t.namespace, t.name))
    body = await bodies.read(request) or {}
    spec: Obj = dict((body.get("spec") if isinstance(body, dict) else None) or {})
    seconds = spec.get("expirationSeconds") or DEFAULT_SECONDS
    name, ns = t.name or "", t.namespace or ""
    if not isinstance(seconds, int) or seconds < MIN_SECONDS:
        raise ApiError("Invalid", f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
                       f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
                       details={"name": name, "group": "authentication.k8s.io", "kind": "TokenRequest",
                                "causes": [{"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                                            "message": f"Invalid value: {seconds}: may not specify a duration "
                                                       "less than 10 minutes"}]})
    bound = _bound(srv, ns, spec.get("boundObjectRef"))
    tokens: ServiceAccountTokens = srv.cluster.extensions["sa_tokens"]
    issued, expires = tokens.issue(ns, name, seconds, bound)
    spec.update(audiences=spec.get("audiences") or [ISSUER], expirationSeconds=seconds)
    spec.setdefault("boundObjectRef", None)
    out = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"name": name, "namespace": ns, "creationTimestamp": None}, "spec": spec,
           "status": {"token": issued, "expirationTimestamp": expiration_text(expires)}}
    return json_response(out, 201)


def _bound(srv: ServerState, ns: str, ref: Obj | None) -> tuple[str, str, str] | None:
    if not ref:
        return None
    kind, name = ref.get("kind", ""), ref.get("name", "")
    gr = BOUND_KINDS.get(kind)
    if gr is None:
        raise ApiError("BadRequest", f'cannot bind token for object of kind "{kind}"; a token may be bound to a '
                       "Pod, Secret or Node, for example boundObjectRef: {kind: Pod, name: my-pod}")
    obj = srv.store.get(gr, None if kind == "Node" else ns, name)
    if obj is None:
        raise ApiError("NotFound", f'{gr.resource} "{name}" not found', details={"name": name, "kind": gr.resource})
    uid = obj["metadata"].get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise ApiError("Conflict", f'Operation cannot be fulfilled on {gr.resource} "{name}": the UID in the bound '
                       f'object reference ({ref["uid"]}) does not match the UID in record. The object might have '
                       "been deleted and then recreated", details={"name": name, "kind": gr.resource})
    return kind, name, uid
