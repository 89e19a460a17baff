"""The aiohttp application: authentication, routing, errors as Status, startup and shutdown.

Who calls it: ``sim/in_process.py`` (``ambient-lb sim up``, ``running_simulator``) and
``python -m ambient_lb.sim serve``. ``make_app(cluster, token)`` returns an ``aiohttp`` application;
on startup it binds the cluster's clock to the running loop and runs ``cluster.start()``, on
cleanup it ends every open watch and runs ``cluster.stop()``.

Every request needs ``Authorization: Bearer <token>`` (401 Unauthorized otherwise; a wrong token is
401 on every path), but a ``GET`` without credentials of ``/version`` and the health probes, which a
cluster lets anyone read (``authn.authenticate``, R16.27). Any exception a handler
raises becomes a ``Status``; an unexpected one is logged and answered 500 without touching state.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..cluster import Cluster
from . import api_faults, authn, bodies, deletes, discovery, encoding, openapi, openapi_v2, rest, routing, subresources
from .patching import patch
from .sa_tokens import ServiceAccountTokens
from .state import ServerState, dumps, json_response
from .status import ApiError, method_not_allowed, path_not_found

log = logging.getLogger("ambient_lb.sim.server")
STATE: web.AppKey[ServerState] = web.AppKey("state", ServerState)
# The kubectl on PATH (gcloud's dispatcher) runs kubectl 1.<minor> for the minor reported here.
# 31: kubectl 1.31 sends JSON bodies for `kubectl create namespace|deployment|…` (1.32+ sends
# protobuf, which this server answers 415 with a hint; research §2.1 and §2.4).
VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.9-ambient-lb-sim", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2025-05-15T00:00:00Z", "goVersion": "go1.23.8",
           "compiler": "gc", "platform": "linux/amd64"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Middleware: an ApiError, an HTTP error or a bug becomes a Status response; records each request's time."""
    started = time.perf_counter()
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response(exc.status(), exc.code)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = {404: "NotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge"}.get(exc.status, "BadRequest")
        return json_response(ApiError(reason, exc.text or exc.reason, code=exc.status).status(), exc.status)
    except Exception as exc:  # a bug must not take the server down; the client gets a Status
        log.exception("internal error on %s %s", request.method, request.path_qs)
        err = ApiError("InternalError", f"an error on the server ({type(exc).__name__}: {exc}) has prevented "
                       "the request from succeeding; the simulator log has the traceback")
        return json_response(err.status(), 500)
    finally:
        elapsed = time.perf_counter() - started
        request.app[STATE].timings.append((request.method, request.path, elapsed))
        log.debug("%s %s %.1f ms", request.method, request.path_qs, elapsed * 1e3)


@web.middleware
async def pretty_print(request: web.Request, handler: Handler) -> web.StreamResponse:
    """R16.8: ``?pretty=true``, curl, Wget and browsers get indented JSON (``encoding.PRETTY``)."""
    encoding.PRETTY.set(encoding.wants_pretty(request.query, request.headers.get("User-Agent", "")))
    return await handler(request)


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """R16.27: authentication before anything else (routing errors, body limits) answers."""
    srv = request.app[STATE]
    if srv.token:
        tokens = srv.cluster.extensions.get("sa_tokens")
        try:
            user = authn.authenticate(request.headers.get("Authorization", ""), srv.token,
                                      tokens.user_for if tokens is not None else None)
            if user is authn.ANONYMOUS_USER:
                authn.anonymous_verdict(request.method, request.path)
        except ApiError as exc:
            return json_response(exc.status(), exc.code)
        request[authn.USER_KEY] = user
    return await handler(request)


async def version(request: web.Request) -> web.StreamResponse:
    """``/version`` is written with ``WriteRawJSON``: always indented, no trailing newline (R16.8)."""
    return web.Response(body=encoding.indented(VERSION), content_type="application/json")


async def fault_admin(request: web.Request) -> web.StreamResponse:
    """The drills' admin endpoint (``api_faults.PATH``), behind the same token as the API (the admin's
    alone: a service account's token is refused, R20.6)."""
    user = authn.requester(request)
    if not authn.privileged(user):
        raise ApiError("Forbidden", f'forbidden: User "{user.name}" cannot {request.method.lower()} '
                       f'path "{request.path}"', details={})
    return await api_faults.admin(request, request.app[STATE].faults)


async def health(request: web.Request) -> web.StreamResponse:
    """``/healthz`` and friends: ``ok``."""
    return web.Response(text="ok")


async def discovery_root(request: web.Request) -> web.StreamResponse:
    """``/api`` and ``/apis``: the discovery documents (aggregated when the client asks for them)."""
    srv = request.app[STATE]
    core = request.path.rstrip("/") == "/api"
    ctype = discovery.aggregated_content_type(request.headers.get("Accept", ""))
    if ctype is not None:
        doc = discovery.aggregated(srv.cluster.registry, core, ctype.split("v=")[1].split(";")[0])
        return web.Response(body=dumps(doc), headers={"Content-Type": ctype})
    if core:
        host = request.host or "127.0.0.1"
        return json_response(discovery.api_versions(host))
    return json_response(discovery.group_list(srv.cluster.registry))


async def openapi_v3(request: web.Request) -> web.StreamResponse:
    """``/openapi/v3``: the index, or the document of one group/version."""
    reg = request.app[STATE].cluster.registry
    tail = request.match_info.get("tail", "").strip("/")
    if not tail:
        return json_response(openapi.index(reg))
    doc = openapi.gv_document(reg, tail)
    if doc is None:
        raise path_not_found()
    return json_response(doc)


async def openapi_v2_document(request: web.Request) -> web.StreamResponse:
    """``/openapi/v2``: the definitions kubectl validates a List's items with (R16.31)."""
    ctype = openapi_v2.negotiate(request.headers.get("Accept", ""))
    if ctype is None:
        return web.Response(status=406, headers={"Vary": "Accept"})
    data = openapi_v2.body(openapi_v2.document(request.app[STATE].cluster.registry), ctype)
    etag = hashlib.sha512(data).hexdigest().upper()
    return web.Response(body=data, headers={"Content-Type": ctype, "Vary": "Accept", "Etag": f'"{etag}"'})


def _legacy_discovery(srv: ServerState, parts: list[str]) -> dict[str, Any] | None:
    reg = srv.cluster.registry
    if parts[0] == "api" and len(parts) == 2:
        return discovery.resource_list(reg, "", parts[1])
    if parts[0] == "apis" and len(parts) == 2:
        return discovery.group(reg, parts[1])
    if parts[0] == "apis" and len(parts) == 3:
        return discovery.resource_list(reg, parts[1], parts[2])
    return None


VERBS_ON_COLLECTION = {"GET": rest.list_, "POST": rest.create, "DELETE": deletes.delete_collection}
VERBS_ON_OBJECT = {"GET": rest.get, "PUT": rest.update, "PATCH": patch, "DELETE": deletes.delete}


async def resources(request: web.Request) -> web.StreamResponse:
    """Every resource URL: legacy discovery, or authorize the verb, then the subresource or verb's handler."""
    srv = request.app[STATE]
    parts = request.path.strip("/").split("/")
    if len(parts) <= 3 and (parts[0] == "api" and len(parts) == 2 or parts[0] == "apis" and len(parts) in (2, 3)):
        doc = _legacy_discovery(srv, parts)
        if doc is None:
            raise path_not_found()
        return json_response(doc)
    t = routing.parse(srv.cluster.registry, request.path)
    verb = authn.request_verb(request.method, bool(t.name), authn.watching(request))
    authn.authorize_request(srv.store, request, t.rt, t.namespace, t.name, t.sub,
                            verb if t.sub is None else authn.request_verb(request.method, True, False))
    if t.sub is not None:
        return await subresources.HANDLERS.get(t.sub, _no_sub)(srv, request, t)
    table = VERBS_ON_OBJECT if t.name else VERBS_ON_COLLECTION
    handler = table.get(request.method)
    if handler is None or verb not in t.rt.verbs:
        raise method_not_allowed(request.method, t.rt.resource)
    return await handler(srv, request, t)


async def _no_sub(srv: ServerState, request: web.Request, t: routing.Target) -> web.StreamResponse:
    raise path_not_found()


async def _on_startup(app: web.Application) -> None:
    import asyncio
    srv = app[STATE]
    bind = getattr(srv.cluster.clock, "bind", None)
    if bind is not None:
        bind(asyncio.get_running_loop())
    await srv.cluster.start()


async def _on_shutdown(app: web.Application) -> None:
    app[STATE].hub.close_all()


async def _on_cleanup(app: web.Application) -> None:
    await app[STATE].cluster.stop()


def make_app(cluster: Cluster, token: str | None = None, *, bookmark_seconds: float = 10.0) -> web.Application:
    """The API server for ``cluster``; ``token`` (if set) is the bearer token every request needs."""
    faults = api_faults.middleware(lambda req: req.app[STATE].faults, lambda req: req.app[STATE].cluster.registry)
    app = web.Application(middlewares=[pretty_print, errors, auth, faults], client_max_size=bodies.MAX_BODY)
    app[STATE] = ServerState(cluster, token, bookmark_seconds)
    cluster.extensions["api_server"] = app[STATE]  # for benchmarks and diagnostics (timings, open watches)
    cluster.extensions["sa_tokens"] = ServiceAccountTokens(cluster.store, cluster.clock)  # R20.5
    r = app.router
    r.add_get("/version", version)
    r.add_get("/version/", version)  # the version WebService answers both (system:public-info-viewer names both)
    for p in ("/healthz", "/readyz", "/livez"):
        r.add_get(p, health)
    r.add_get("/api", discovery_root)
    r.add_get("/apis", discovery_root)
    r.add_get("/openapi/v3", openapi_v3)
    r.add_get("/openapi/v3/{tail:.*}", openapi_v3)
    r.add_get("/openapi/v2", openapi_v2_document)
    r.add_route("*", api_faults.PATH, fault_admin)
    r.add_route("*", api_faults.PATH + "/{id}", fault_admin)
    r.add_route("*", "/api/{tail:.*}", resources)
    r.add_route("*", "/apis/{tail:.*}", resources)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app
