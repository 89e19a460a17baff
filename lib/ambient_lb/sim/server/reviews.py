"""The review kinds: answered at once, never stored (R16.10).

Who calls it: ``rest.create`` for a POST to one of ``KINDS``. Each answer echoes the request (its
``spec``; ``metadata`` with ``creationTimestamp: null``, as the API server writes an object it did not
store) with ``status`` filled in, 201 Created:

- SelfSubjectAccessReview (``kubectl auth can-i``): for the requester (``authn.requester``).
- SelfSubjectRulesReview (``kubectl auth can-i --list``): the privileged group's ``*`` rules first
  (the authorizer's ``RulesFor``), then the RBAC rules bound to the requester in ``spec.namespace``.
- SubjectAccessReview / LocalSubjectAccessReview: for ``spec.user`` and ``spec.groups`` (the local one
  within the URL's namespace).
- SelfSubjectReview (``kubectl auth whoami``): the requester's user info.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from . import authn, rbac
from .routing import Target
from .state import ServerState, json_response
from .status import ApiError

Obj = dict[str, Any]
KINDS = ("SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview", "LocalSubjectAccessReview",
         "SelfSubjectReview")
ALL_RULES = ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}], [{"verbs": ["*"], "nonResourceURLs": ["*"]}])


def _attributes(kind: str, spec: Obj) -> rbac.Attributes:
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (res is None) == (non is None):
        raise ApiError("Invalid", f'{kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid '
                       "value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                       details={"group": "authorization.k8s.io", "kind": kind})
    if non is not None:
        return rbac.Attributes(non.get("verb", ""), path=non.get("path", "") or "/")
    assert res is not None  # exactly one of the two is set (checked above)
    return rbac.Attributes(res.get("verb", ""), res.get("group", ""), res.get("resource", ""),
                           res.get("subresource", ""), res.get("name", ""), res.get("namespace", ""))


def _subject(kind: str, spec: Obj) -> rbac.User:
    if not spec.get("user") and not spec.get("groups"):
        raise ApiError("Invalid", f'{kind}.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at '
                       "least one of user or group must be specified",
                       details={"group": "authorization.k8s.io", "kind": kind})
    return rbac.User(spec.get("user", ""), tuple(spec.get("groups") or []), spec.get("uid", ""),
                     dict(spec.get("extra") or {}))


def _access(srv: ServerState, user: rbac.User, attrs: rbac.Attributes) -> Obj:
    allowed, reason = authn.decide(srv.store, user, attrs)
    return {"allowed": allowed, **({"reason": reason} if reason else {})}


def _status(srv: ServerState, request: web.Request, t: Target, review: Obj) -> Obj:
    kind, spec = t.rt.kind, review.setdefault("spec", {})
    if kind == "SelfSubjectReview":
        return {"userInfo": authn.requester(request).info()}
    if kind == "SelfSubjectAccessReview":
        return _access(srv, authn.requester(request), _attributes(kind, spec))
    if kind == "SelfSubjectRulesReview":
        user = authn.requester(request)
        resource, non = rbac.rules_for(srv.store, user, spec.get("namespace", ""))
        if authn.privileged(user):
            resource, non = copy.deepcopy(ALL_RULES[0]) + resource, copy.deepcopy(ALL_RULES[1]) + non
        return {"resourceRules": resource, "nonResourceRules": non, "incomplete": False}
    if kind == "LocalSubjectAccessReview":
        res = spec.get("resourceAttributes")
        if isinstance(res, dict):
            if res.get("namespace") and res["namespace"] != t.namespace:
                raise ApiError("BadRequest", f"spec.resourceAttributes.namespace must match namespace: {t.namespace}")
            res["namespace"] = t.namespace
    return _access(srv, _subject(kind, spec), _attributes(kind, spec))


def answer(srv: ServerState, request: web.Request, t: Target, body: Any) -> web.StreamResponse:
    """Answers an access or token review with its status filled in (reviews are not stored)."""
    review = copy.deepcopy(body) if isinstance(body, dict) else {}
    md = dict(review.get("metadata") or {})
    md.setdefault("creationTimestamp", None)
    if t.namespace:
        md["namespace"] = t.namespace
    status = _status(srv, request, t, review)
    out = {"kind": t.rt.kind, "apiVersion": t.rt.api_version(t.version), "metadata": md,
           "spec": review.get("spec") or {}, "status": status}
    if t.rt.kind == "SelfSubjectReview":
        out.pop("spec")
    return json_response(out, 201)
