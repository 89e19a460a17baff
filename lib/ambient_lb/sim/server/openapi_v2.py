"""The OpenAPI v2 document, which kubectl reads to validate the items of a ``kind: List`` (R16.31).

Who calls it: ``app.py`` for ``/openapi/v2``. kubectl validates every manifest through
``paramVerifyingSchema``: a kind whose PATCH operation in ``/openapi/v3`` declares
``fieldValidation`` is left to the server, but ``v1/List`` never is (the verifier answers
"unsupported" for it without a look), so with the default ``--validate=strict`` kubectl checks each
item itself against the v2 definition whose ``x-kubernetes-group-version-kind`` names the item's
kind, and skips an item whose kind has none. The definitions here are the field trees the server's
own strict validation uses (``validation.schema_for``): each known kind and its ``<Kind>List``,
named as a cluster names them (``io.k8s.api.core.v1.ConfigMap``). The document has no paths, so
kubectl's client-side apply finds no PATCH content types in it and keeps computing its patches
from its compiled-in types, as it did before this document was served. kubectl asks for protobuf
(gnostic's ``openapi_v2.Document``); other clients get JSON.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from ..resources import Registry, ResourceType
from . import schema as S
from .validation import schema_for

# the Go package a built-in group's types live in; a CRD's definitions use its group reversed
PACKAGES = {
    "": "io.k8s.api.core", "apps": "io.k8s.api.apps", "batch": "io.k8s.api.batch",
    "discovery.k8s.io": "io.k8s.api.discovery", "events.k8s.io": "io.k8s.api.events",
    "coordination.k8s.io": "io.k8s.api.coordination", "rbac.authorization.k8s.io": "io.k8s.api.rbac",
    "authorization.k8s.io": "io.k8s.api.authorization", "authentication.k8s.io": "io.k8s.api.authentication",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
}
LIST_META = {"continue": S.ANY, "remainingItemCount": S.ANY, "resourceVersion": S.ANY, "selfLink": S.ANY}
# the shared field trees of schema.py, published as a cluster names them, so kubectl's error names the
# type (``unknown field "bogus" in io.k8s.api.core.v1.Container``)
META, CORE = "io.k8s.apimachinery.pkg.apis.meta.v1", "io.k8s.api.core.v1"
NAMED: tuple[tuple[Any, str], ...] = (
    (S.OBJECT_META, f"{META}.ObjectMeta"), (S.OWNER_REF, f"{META}.OwnerReference"),
    (S.LABEL_SELECTOR, f"{META}.LabelSelector"), (LIST_META, f"{META}.ListMeta"),
    (S.CONTAINER, f"{CORE}.Container"), (S.CONTAINER_PORT, f"{CORE}.ContainerPort"),
    (S.ENV_VAR, f"{CORE}.EnvVar"), (S.POD_SPEC, f"{CORE}.PodSpec"),
    (S.POD_TEMPLATE, f"{CORE}.PodTemplateSpec"), (S.SERVICE_SPEC, f"{CORE}.ServiceSpec"),
    (S.SERVICE_PORT, f"{CORE}.ServicePort"), (S.RC_SPEC, f"{CORE}.ReplicationControllerSpec"),
    (S.DEPLOYMENT_SPEC, "io.k8s.api.apps.v1.DeploymentSpec"),
    (S.REPLICASET_SPEC, "io.k8s.api.apps.v1.ReplicaSetSpec"),
    (S.DAEMONSET_SPEC, "io.k8s.api.apps.v1.DaemonSetSpec"),
    (S.JOB_SPEC, "io.k8s.api.batch.v1.JobSpec"), (S.CRONJOB_SPEC, "io.k8s.api.batch.v1.CronJobSpec"),
    (S.POLICY_RULE, "io.k8s.api.rbac.v1.PolicyRule"), (S.SUBJECT, "io.k8s.api.rbac.v1.Subject"),
    (S.ROLE_REF, "io.k8s.api.rbac.v1.RoleRef"),
)


def definition_name(rt: ResourceType, version: str, kind: str) -> str:
    """``io.k8s.api.apps.v1.Deployment``; a CRD's ``io.k8s.networking.gateway.v1.Gateway``."""
    package = PACKAGES.get(rt.group) if rt.crd is None else None
    return f"{package or '.'.join(reversed(rt.group.split('.')))}.{version}.{kind}"


def _schema(tree: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """A field tree (``schema.py``) as an OpenAPI schema: objects list their properties, ANY is
    untyped, a shared tree is a ``$ref`` to its definition (added to ``defs``)."""
    if tree is S.ANY:
        return {}
    if isinstance(tree, list):
        return {"type": "array", "items": _schema(tree[0], defs)}
    name = next((n for t, n in NAMED if t is tree), None)
    if name is not None and name in defs:
        return {"$ref": f"#/definitions/{name}"}
    if name is not None:
        defs[name] = {}  # taken before its fields, so a tree that holds itself stays finite
    out = {"type": "object", "properties": {k: _schema(v, defs) for k, v in tree.items()}}
    if name is None:
        return out
    defs[name] = out
    return {"$ref": f"#/definitions/{name}"}


def _gvk(rt: ResourceType, version: str, kind: str) -> dict[str, Any]:
    return {"x-kubernetes-group-version-kind": [{"group": rt.group, "kind": kind, "version": version}]}


def document(registry: Registry) -> dict[str, Any]:
    """The v2 document: a definition for each kind whose fields the server knows, and its list."""
    defs: dict[str, Any] = {}
    for rt in registry.all():
        for v in rt.versions:
            tree = schema_for(rt, None, v)
            if tree is None:
                continue
            name = definition_name(rt, v, rt.kind)
            defs[name] = {**_schema(tree, defs), **_gvk(rt, v, rt.kind)}
            items = {"type": "array", "items": {"$ref": f"#/definitions/{name}"}}
            defs[f"{name}List"] = {"type": "object", "required": ["items"], "properties": {
                "apiVersion": {}, "kind": {}, "metadata": _schema(LIST_META, defs), "items": items},
                **_gvk(rt, v, f"{rt.kind}List")}
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.31.0"}, "paths": {},
            "definitions": dict(sorted(defs.items()))}


# ---- gnostic's openapi_v2.proto, the few messages the document uses ---------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, payload: bytes | str) -> bytes:
    """A length-delimited field (string or embedded message)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _pb_schema(s: dict[str, Any]) -> bytes:
    """``Schema``: _ref 1, required 19, type 22 (TypeItem), items 23 (ItemsItem), properties 25
    (Properties of NamedSchema), vendor_extension 31 (NamedAny whose Any carries YAML in field 2)."""
    out = _field(1, s["$ref"]) if "$ref" in s else b""
    out += b"".join(_field(19, r) for r in s.get("required", []))
    if "type" in s:
        out += _field(22, _field(1, s["type"]))
    if "items" in s:
        out += _field(23, _field(1, _pb_schema(s["items"])))
    if "properties" in s:
        out += _field(25, b"".join(_field(1, _field(1, k) + _field(2, _pb_schema(v)))
                                   for k, v in s["properties"].items()))
    for k, v in s.items():
        if k.startswith("x-"):
            out += _field(31, _field(1, k) + _field(2, _field(2, yaml.safe_dump(v))))
    return out


def protobuf(doc: dict[str, Any]) -> bytes:
    """``Document``: swagger 1, info 2 (title 1, version 2), paths 8, definitions 9 (NamedSchema list)."""
    info = _field(1, doc["info"]["title"]) + _field(2, doc["info"]["version"])
    defs = b"".join(_field(1, _field(1, name) + _field(2, _pb_schema(s)))
                    for name, s in doc["definitions"].items())
    return _field(1, doc["swagger"]) + _field(2, info) + _field(8, b"") + _field(9, defs)


# what a client may ask for, and the Content-Type it gets: kube-openapi answers the older ``@`` name
# with the newer ``.`` one (Go's mime parser refuses the ``@``)
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
ACCEPTED = {"application/json": "application/json",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf": PROTOBUF, PROTOBUF: PROTOBUF}


def _clauses(accept: str) -> list[str]:
    """The media types of an Accept header, most wanted first (a stable sort by ``q``)."""
    out: list[tuple[float, str]] = []
    for part in (accept or "*/*").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            out.append((float(q), media))
        except ValueError:
            out.append((0.0, media))
    return [m for _, m in sorted(out, key=lambda c: -c[0])]


def negotiate(accept: str) -> str | None:
    """The Content-Type to answer ``accept`` with: JSON or protobuf; None is 406 Not Acceptable."""
    for media in _clauses(accept):
        typ, _, sub = media.partition("/")
        for offered, answered in ACCEPTED.items():
            otyp, _, osub = offered.partition("/")
            if typ in (otyp, "*") and sub in (osub, "*"):
                return answered
    return None


def body(doc: dict[str, Any], ctype: str) -> bytes:
    """The document in the negotiated Content-Type."""
    return protobuf(doc) if ctype == PROTOBUF else json.dumps(doc).encode()
