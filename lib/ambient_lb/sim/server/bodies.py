"""Request bodies and query options: decode, or say precisely why not.

Who calls it: ``rest.py`` and ``subresources.py``. JSON and YAML bodies are read; a protobuf body
(kubectl ≥ 1.32 sends one for ``kubectl create namespace|deployment|configmap|secret``, research
§2.4) is decoded by ``protobuf.py`` for those kinds, and answered 415 with what to run instead for
anything else. Malformed bodies are 400 BadRequest; nothing a
client sends gets past here as anything but a dict or a list. A body over 3 MiB is 413 (R16.28); one
nested deeper than 200 levels, or a YAML one whose aliases expand beyond go-yaml's ratio, is 400
(R16.29), before anything is stored.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from ... import yaml_limits
from . import protobuf
from .status import ApiError, unsupported_media_type

# R16.28: the API server reads at most 3 MiB of a request body (MaxRequestBodyBytes); every object the
# runbook applies is far smaller (kubectl sends one object per request; the largest CRD is ~400 KiB)
MAX_BODY = 3 * 2**20
# R16.29: deeper bodies are refused (the API server's JSON and YAML decoders stop at 10,000 levels; the
# simulator at 200, far beyond any Kubernetes object: CRD schemas nest about 40)
MAX_DEPTH = 200
PROTOBUF = "application/vnd.kubernetes.protobuf"
PROTOBUF_HINT = ("; this server reads protobuf bodies only for Namespace, ConfigMap, Secret, Deployment, "
                 "Role, RoleBinding, ClusterRole, ClusterRoleBinding, Job and CronJob (what 'kubectl create' "
                 "sends): write the object as YAML and run 'kubectl apply -f <file>' instead")
JSON_TYPES = ("application/json", "application/merge-patch+json", "application/strategic-merge-patch+json",
              "application/json-patch+json", "")
YAML_TYPES = ("application/yaml", "application/apply-patch+yaml", "application/x-yaml", "text/yaml")


def media_type(request: web.Request) -> str:
    """The request's media type, lower-case, without parameters."""
    return (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()


async def read(request: web.Request) -> Any:
    """The decoded body (None when empty), by Content-Type."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError("RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}") from None
    ctype = media_type(request)
    if ctype == PROTOBUF:
        try:
            return protobuf.decode(raw)
        except protobuf.Unsupported as exc:
            raise unsupported_media_type(ctype, f" ({exc}){PROTOBUF_HINT}") from None
    if not raw.strip():
        return None
    if ctype in YAML_TYPES:
        return _yaml(raw)
    if ctype in JSON_TYPES:
        return _json(raw)
    raise unsupported_media_type(ctype)


def _json(raw: bytes) -> Any:
    try:
        doc = json.loads(raw)
    except RecursionError:  # deeper than Python's decoder goes (about 1,000 levels)
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("BadRequest", f"the body of the request could not be decoded as JSON: {exc}; "
                       'send a JSON object such as {"metadata": {"name": "x"}}') from None
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and depth(doc) > MAX_DEPTH:  # a cheap bound first
        raise _too_deep()
    return doc


def _too_deep() -> ApiError:
    return ApiError("BadRequest", f"the body of the request could not be decoded as JSON: exceeded max depth of "
                    f"{MAX_DEPTH} (R16.29); no Kubernetes object nests that deep")


def _yaml(raw: bytes) -> Any:
    try:
        return yaml_limits.load(raw, max_bytes=MAX_BODY, max_depth=MAX_DEPTH)
    except yaml_limits.Refused as exc:  # R16.29: go-yaml's alias and depth limits, in its words
        raise ApiError("BadRequest", f"error decoding YAML: error converting YAML to JSON: yaml: {exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ApiError("BadRequest", f"the body of the request could not be decoded as YAML: {first}") from None


def depth(doc: Any) -> int:
    """How many levels of objects and arrays ``doc`` nests (walked without recursion)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:  # past the limit the answer is known
            stack.extend((c, level + 1) for c in children)
    return deepest


def int_param(request: web.Request, name: str, default: int | None = None) -> int | None:
    """An integer query parameter (default when absent or empty); 400 when it is not an integer."""
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ApiError("BadRequest", f'{name} must be an integer, got "{v}"; for example {name}=10') from None


def bool_param(request: web.Request, name: str) -> bool:
    """True when the query parameter is ``true`` or ``1``."""
    return (request.query.get(name) or "").lower() in ("true", "1")


def dry_run(request: web.Request, body: dict[str, Any] | None = None) -> bool:
    """True for a dry run (``dryRun=All`` in the query or the body); 400 for any other dryRun value."""
    values = request.query.getall("dryRun", []) + list((body or {}).get("dryRun") or [])
    for v in values:
        if v != "All":
            raise ApiError("BadRequest", f'dryRun must be "All", got "{v}"')
    return bool(values)
