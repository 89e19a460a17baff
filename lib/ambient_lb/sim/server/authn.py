"""Who a request is from, and what the simulator lets them do (R16.10, R16.11, R16.27).

Who calls it: ``app.py`` (the ``auth`` middleware asks ``authenticate`` and ``anonymous_verdict`` about
every request; ``resources``: every resource request goes through ``authorize_request``) and
``reviews.py`` (the self reviews answer for ``requester``).

- ``authenticate`` reads ``Authorization`` as the bearer-token authenticator does: no header, another
  scheme or an empty token is no credential (the request is anonymous); the kubeconfig's token is the
  admin; any other token is 401 ``Unauthorized`` on every path, the public ones included (a bad token
  is never taken for anonymous). Anonymous requests are allowed only to ``PUBLIC`` (R16.27), and
  there only ``GET``, as ``system:public-info-viewer`` allows them; anything else is 401, or 403 for
  another verb on a public path.

- The kubeconfig's bearer token authenticates as ``kubernetes-admin`` in the groups
  ``system:masters`` and ``system:authenticated``. ``system:masters`` is the privileged group a real
  API server lets do everything without consulting RBAC; so the token's requests are all allowed
  (authorization stays allow-all for the token) and RBAC objects are stored, served and evaluated
  only for the identities below.
- ``Impersonate-User`` / ``Impersonate-Group`` / ``Impersonate-Uid`` / ``Impersonate-Extra-<key>``
  (``kubectl --as``, ``--as-group``) act as another identity, as the impersonation filter builds it:
  a service account's username ``system:serviceaccount:<ns>:<name>`` gets the groups
  ``system:serviceaccounts`` and ``system:serviceaccounts:<ns>`` when no group is given, and every
  identity but ``system:anonymous`` gets ``system:authenticated``. Its resource requests are
  authorized by RBAC (``rbac.py``) and refused 403 as the API server refuses them; discovery,
  OpenAPI, ``/version`` and the self reviews stay open to it [model] (a cluster allows them to
  ``system:authenticated`` through the ``system:discovery``, ``system:public-info-viewer`` and
  ``system:basic-user`` bindings, which the simulator does not seed).
- A service-account token the simulator issued (``sa_tokens.py``: a pod's token volume, TokenRequest)
  authenticates as its service account while it is valid (R20.6), else 401; its requests are
  authorized by RBAC like an impersonated identity. It may not impersonate: ``Impersonate-*`` from it
  is 403 (``cannot impersonate``) [model: a cluster asks RBAC for the ``impersonate`` verb].
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aiohttp import web

from ..protocols import ObjectReader
from ..resources import ResourceType
from . import rbac
from .status import ApiError, qualified

TOKEN_USER = rbac.User("kubernetes-admin", ("system:masters", "system:authenticated"))
PRIVILEGED_GROUP = "system:masters"
ANONYMOUS = "system:anonymous"
ANONYMOUS_USER = rbac.User(ANONYMOUS, ("system:unauthenticated",))
# R16.27: the paths anonymous requests may reach (system:public-info-viewer's nonResourceURLs), only with GET
PUBLIC = ("/healthz", "/livez", "/readyz", "/version", "/version/")
# creates every authenticated identity may make (system:basic-user), whatever RBAC holds
SELF_REVIEWS = {("authorization.k8s.io", "selfsubjectaccessreviews"),
                ("authorization.k8s.io", "selfsubjectrulesreviews"),
                ("authentication.k8s.io", "selfsubjectreviews")}
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
# where the auth middleware leaves the authenticated user on the request (a typed key, as aiohttp asks)
USER_KEY = web.RequestKey("ambient_lb.user", rbac.User)
TokenLookup = Callable[[str], "rbac.User | None"]


def unauthorized() -> ApiError:
    """The API server's 401: ``Unauthorized``, nothing more (it says nothing of why)."""
    return ApiError("Unauthorized", "Unauthorized")


def authenticate(authorization: str, token: str, tokens: TokenLookup | None = None) -> rbac.User:
    """R16.27: the admin for the kubeconfig's token, ``ANONYMOUS_USER`` for a request without bearer
    credentials, the service account of a valid service-account token (``tokens``, R20.6); raises 401
    for any other token (the API server fails on an authenticator's error rather than falling back
    to anonymous)."""
    parts = authorization.strip().split(" ")
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return ANONYMOUS_USER
    given = parts[1].encode("utf-8", "surrogateescape")
    if hmac.compare_digest(given, token.encode()):
        return TOKEN_USER
    user = tokens(parts[1]) if tokens is not None else None
    if user is not None:
        return user
    raise unauthorized()


def anonymous_verdict(method: str, path: str) -> None:
    """R16.27: an anonymous request is 401 off the public paths, 403 for a verb other than GET on them."""
    if path not in PUBLIC:
        raise unauthorized()
    if method != "GET":
        verb = method.lower()
        raise ApiError("Forbidden", f'forbidden: User "{ANONYMOUS}" cannot {verb} path "{path}"', details={})


def requester(request: web.Request) -> rbac.User:
    """The authenticated user (the kubeconfig token's admin, or a service account, R20.6), or the
    identity the admin impersonates."""
    name = request.headers.get("Impersonate-User")
    groups = list(request.headers.getall("Impersonate-Group", []))
    base: rbac.User = request.get(USER_KEY) or TOKEN_USER
    if not name:
        if groups:
            raise ApiError("Forbidden", "requested impersonation of groups without impersonating a user; "
                           "add --as=<user> to --as-group")
        return base
    if not privileged(base):
        raise ApiError("Forbidden", f'users "{name}" is forbidden: User "{base.name}" cannot impersonate resource '
                       '"users" in API group "" at the cluster scope', details={"name": name, "kind": "users"})
    if name.startswith(rbac.SA_PREFIX) and name.count(":") == 3 and not groups:
        ns = name.split(":")[2]
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    if name != ANONYMOUS and not {"system:authenticated", "system:unauthenticated"} & set(groups):
        groups.append("system:authenticated")
    extra = {k[len("Impersonate-Extra-"):].lower(): [v] for k, v in request.headers.items()
             if k.lower().startswith("impersonate-extra-")}
    return rbac.User(name, tuple(groups), request.headers.get("Impersonate-Uid", ""), extra)


def privileged(user: rbac.User) -> bool:
    """True for a user in the privileged group (allowed everything, as system:masters)."""
    return PRIVILEGED_GROUP in user.groups


def decide(store: ObjectReader, user: rbac.User, attrs: rbac.Attributes) -> tuple[bool, str]:
    """The authorizer chain: the privileged group is allowed without a reason, else RBAC."""
    if privileged(user):
        return True, ""
    return rbac.authorize(store, user, attrs)


def watching(request: web.Request) -> bool:
    """True for a list that asks to watch (``?watch=true`` or ``1``), as the server serves one."""
    return (request.query.get("watch") or "").lower() in ("true", "1")


def request_verb(method: str, named: bool, watching: bool) -> str:
    """The RBAC verb of a request (get, list, watch, delete, deletecollection, create, ...)."""
    if method == "GET":
        return "get" if named else "watch" if watching else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return VERBS.get(method, method.lower())


def authorize_request(store: ObjectReader, request: web.Request, rt: ResourceType, namespace: str | None,
                      name: str | None, sub: str | None, verb: str) -> None:
    """403 Forbidden for an impersonated identity that RBAC does not allow (R16.11)."""
    user = requester(request)
    if privileged(user) or (verb == "create" and (rt.group, rt.resource) in SELF_REVIEWS):
        return
    attrs = rbac.Attributes(verb, rt.group, rt.resource, sub or "", name or "", namespace or "")
    allowed, _ = rbac.authorize(store, user, attrs)
    if allowed:
        return
    resource = f"{rt.resource}/{sub}" if sub else rt.resource
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    why = f'User "{user.name}" cannot {verb} resource "{resource}" in API group "{rt.group}" {where}'
    what = f'{qualified(rt)} "{name}"' if name else qualified(rt)
    details = {**({"name": name} if name else {}), **({"group": rt.group} if rt.group else {}), "kind": rt.resource}
    raise ApiError("Forbidden", f"{what} is forbidden: {why}", details=details)
