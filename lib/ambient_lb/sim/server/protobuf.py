"""Read the few protobuf bodies kubectl sends: Namespace, ConfigMap, Secret, Deployment (≥ 1.32), and
Role, RoleBinding, ClusterRole, ClusterRoleBinding, Job, CronJob (``kubectl create role|rolebinding|
clusterrole|clusterrolebinding|job|cronjob``, which send protobuf already in 1.31, R16.16).

Who calls it: ``bodies.read`` for ``Content-Type: application/vnd.kubernetes.protobuf``. kubectl's
typed ``create`` commands send the object as protobuf (research §2.4):
the 4-byte magic ``k8s\\0`` then a ``runtime.Unknown`` {typeMeta{apiVersion, kind}, raw}, where
``raw`` is the object in the k8s.io/api wire format. This module decodes the protobuf wire format
generically and maps field numbers to JSON names with the small tables below (the k8s.io/api
``generated.proto`` numbering for these types). Zero values are dropped, as JSON's ``omitempty``
would, except for pointer fields such as ``spec.replicas``. Anything it cannot map (another kind,
a field it does not know that carries a value) raises ``Unsupported``: the server answers 415 and
tells the user to use ``kubectl apply -f``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"


class Unsupported(Exception):
    """The body is protobuf this server cannot map to JSON."""


# ---- wire format -----------------------------------------------------------------------------------
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise Unsupported("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): ints for varint/fixed, bytes for length-delimited."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        v: int | bytes
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise Unsupported("truncated length-delimited field")
            v, i = buf[i:i + n], i + n
        elif wt in (1, 5):
            size = 8 if wt == 1 else 4
            v, i = int.from_bytes(buf[i:i + size], "little"), i + size
        else:
            raise Unsupported(f"wire type {wt} is not supported")
        yield num, wt, v


# ---- schemas: field number -> (json name, type) ------------------------------------------------------
# types: "str", "bytes64" (base64 in JSON), "int", "bool", "map" (string->string), "mapb64",
# "msg:<Name>", "[msg:<Name>]" / "[str]" (repeated), "int*" (pointer: zero is kept)
S: dict[str, dict[int, tuple[str, str]]] = {
    "ObjectMeta": {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
                   4: ("selfLink", "str"), 5: ("uid", "str"), 6: ("resourceVersion", "str"),
                   7: ("generation", "int"), 8: ("creationTimestamp", "msg:Time"),
                   11: ("labels", "map"), 12: ("annotations", "map"), 14: ("finalizers", "[str]")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "Namespace": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:NamespaceSpec"), 3: ("status", "msg:Ignored")},
    "NamespaceSpec": {1: ("finalizers", "[str]")},
    "ConfigMap": {1: ("metadata", "msg:ObjectMeta"), 2: ("data", "map"), 3: ("binaryData", "mapb64"),
                  4: ("immutable", "bool*")},
    "Secret": {1: ("metadata", "msg:ObjectMeta"), 2: ("data", "mapb64"), 3: ("type", "str"),
               4: ("stringData", "map"), 5: ("immutable", "bool*")},
    "Deployment": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:DeploymentSpec"), 3: ("status", "msg:Ignored")},
    "DeploymentSpec": {1: ("replicas", "int*"), 2: ("selector", "msg:LabelSelector"),
                       3: ("template", "msg:PodTemplateSpec"), 4: ("strategy", "msg:DeploymentStrategy"),
                       5: ("minReadySeconds", "int"), 6: ("revisionHistoryLimit", "int*"), 7: ("paused", "bool"),
                       9: ("progressDeadlineSeconds", "int*")},
    "DeploymentStrategy": {1: ("type", "str")},
    "LabelSelector": {1: ("matchLabels", "map"), 2: ("matchExpressions", "[msg:LabelSelectorRequirement]")},
    "LabelSelectorRequirement": {1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "[str]")},
    # rbac.authorization.k8s.io/v1
    "Role": {1: ("metadata", "msg:ObjectMeta"), 2: ("rules", "[msg:PolicyRule]")},
    "ClusterRole": {1: ("metadata", "msg:ObjectMeta"), 2: ("rules", "[msg:PolicyRule]"),
                    3: ("aggregationRule", "msg:AggregationRule")},
    "AggregationRule": {1: ("clusterRoleSelectors", "[msg:LabelSelector]")},
    "PolicyRule": {1: ("verbs", "[str]"), 2: ("apiGroups", "[str]"), 3: ("resources", "[str]"),
                   4: ("resourceNames", "[str]"), 5: ("nonResourceURLs", "[str]")},
    "RoleBinding": {1: ("metadata", "msg:ObjectMeta"), 2: ("subjects", "[msg:Subject]"), 3: ("roleRef", "msg:RoleRef")},
    "ClusterRoleBinding": {1: ("metadata", "msg:ObjectMeta"), 2: ("subjects", "[msg:Subject]"),
                           3: ("roleRef", "msg:RoleRef")},
    "Subject": {1: ("kind", "str"), 2: ("apiGroup", "str"), 3: ("name", "str"), 4: ("namespace", "str")},
    "RoleRef": {1: ("apiGroup", "str"), 2: ("kind", "str"), 3: ("name", "str")},
    # batch/v1
    "Job": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:JobSpec"), 3: ("status", "msg:Ignored")},
    "JobSpec": {1: ("parallelism", "int*"), 2: ("completions", "int*"), 3: ("activeDeadlineSeconds", "int*"),
                4: ("selector", "msg:LabelSelector"), 5: ("manualSelector", "bool*"),
                6: ("template", "msg:PodTemplateSpec"),
                7: ("backoffLimit", "int*"), 8: ("ttlSecondsAfterFinished", "int*"), 9: ("completionMode", "str*"),
                10: ("suspend", "bool*"), 14: ("podReplacementPolicy", "str*"), 15: ("managedBy", "str*")},
    "CronJob": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:CronJobSpec"), 3: ("status", "msg:Ignored")},
    "CronJobSpec": {1: ("schedule", "str"), 8: ("timeZone", "str*"), 2: ("startingDeadlineSeconds", "int*"),
                    3: ("concurrencyPolicy", "str"), 4: ("suspend", "bool*"), 5: ("jobTemplate", "msg:JobTemplateSpec"),
                    6: ("successfulJobsHistoryLimit", "int*"), 7: ("failedJobsHistoryLimit", "int*")},
    "JobTemplateSpec": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:JobSpec")},
    "PodTemplateSpec": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:PodSpec")},
    "PodSpec": {2: ("containers", "[msg:Container]"), 3: ("restartPolicy", "str"),
                4: ("terminationGracePeriodSeconds", "int*"), 6: ("dnsPolicy", "str"), 7: ("nodeSelector", "map"),
                8: ("serviceAccountName", "str"), 9: ("serviceAccount", "str"), 10: ("nodeName", "str"),
                11: ("hostNetwork", "bool"), 12: ("hostPID", "bool"), 13: ("hostIPC", "bool"),
                16: ("hostname", "str"), 17: ("subdomain", "str"), 19: ("schedulerName", "str"),
                24: ("priorityClassName", "str")},
    "Container": {1: ("name", "str"), 2: ("image", "str"), 3: ("command", "[str]"), 4: ("args", "[str]"),
                  5: ("workingDir", "str"), 6: ("ports", "[msg:ContainerPort]"), 7: ("env", "[msg:EnvVar]"),
                  8: ("resources", "msg:Empty"), 13: ("terminationMessagePath", "str"),
                  14: ("imagePullPolicy", "str"), 16: ("stdin", "bool"), 17: ("stdinOnce", "bool"),
                  18: ("tty", "bool"), 20: ("terminationMessagePolicy", "str")},
    "ContainerPort": {1: ("name", "str"), 2: ("hostPort", "int"), 3: ("containerPort", "int"),
                      4: ("protocol", "str"), 5: ("hostIP", "str")},
    "EnvVar": {1: ("name", "str"), 2: ("value", "str")},
    "Empty": {},
    "Ignored": {},  # status: the server resets it on create anyway
}
RBAC_V1 = "rbac.authorization.k8s.io/v1"
KINDS = {("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("apps/v1", "Deployment"),
         (RBAC_V1, "Role"), (RBAC_V1, "RoleBinding"), (RBAC_V1, "ClusterRole"), (RBAC_V1, "ClusterRoleBinding"),
         ("batch/v1", "Job"), ("batch/v1", "CronJob")}


def _scalar(typ: str, wt: int, v: Any, where: str) -> Any:
    if typ.startswith("int"):
        return v - (1 << 64) if v >= 1 << 63 else v
    if typ.startswith("bool"):
        return bool(v)
    if not isinstance(v, bytes):
        raise Unsupported(f"{where}: expected bytes")
    if typ == "bytes64":
        return base64.b64encode(v).decode()
    try:
        return v.decode()
    except UnicodeDecodeError:
        raise Unsupported(f"{where}: not UTF-8") from None


def _entry(v: bytes, b64: bool) -> tuple[str, str]:
    key, val = "", b""
    for num, _, x in fields(v):
        if num == 1:
            key = x.decode()
        elif num == 2:
            val = x
    return key, (base64.b64encode(val).decode() if b64 else val.decode())


def _is_zero(v: Any) -> bool:
    return v in ("", 0, False, None) or v == {} or v == []


def decode_message(name: str, buf: bytes, where: str = "") -> dict[str, Any]:
    """Decodes a protobuf message of a known schema into a dict; Unsupported for a set field it does not know."""
    schema = S[name]
    out: dict[str, Any] = {}
    if name in ("Ignored",):
        return {}
    for num, wt, v in fields(buf):
        if num not in schema:
            if (isinstance(v, bytes) and v) or (isinstance(v, int) and v):
                raise Unsupported(f"field {num} of {name} at {where or '/'} is not supported")
            continue
        key, typ = schema[num]
        path = f"{where}.{key}"
        if typ in ("map", "mapb64"):
            k, val = _entry(v, typ == "mapb64")
            out.setdefault(key, {})[k] = val
        elif typ.startswith("["):
            inner = typ[1:-1]
            item = decode_message(inner[4:], v, path) if inner.startswith("msg:") else _scalar(inner, wt, v, path)
            out.setdefault(key, []).append(item)
        elif typ.startswith("msg:"):
            out[key] = decode_message(typ[4:], v, path)
        else:
            val = _scalar(typ, wt, v, path)
            if typ.endswith("*") or not _is_zero(val):
                out[key] = val
    return {k: v for k, v in out.items() if k in ("containers",) or not _is_zero(v) or _pointer(schema, k)}


def _pointer(schema: dict[int, tuple[str, str]], key: str) -> bool:
    return any(k == key and t.endswith("*") for k, t in schema.values())


def decode(body: bytes) -> dict[str, Any]:
    """The JSON-shaped object in a ``k8s\\0`` protobuf envelope (raises ``Unsupported``, only)."""
    try:
        return _decode(body)
    except Unsupported:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, RecursionError) as exc:
        raise Unsupported(f"malformed protobuf ({type(exc).__name__})") from None


def _decode(body: bytes) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise Unsupported("the body does not start with the k8s protobuf magic")
    type_meta, raw = {}, b""
    for num, _, v in fields(body[len(MAGIC):]):
        if num == 1:
            type_meta = {n: x.decode() for n, _, x in fields(v) if n in (1, 2)}
        elif num == 2:
            raw = v
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    if (api_version, kind) not in KINDS:
        raise Unsupported(f"{kind or 'this kind'} ({api_version or '?'}) is not decoded from protobuf")
    obj = decode_message(kind, raw)
    md = obj.get("metadata") or {}
    md.pop("creationTimestamp", None)
    return {"apiVersion": api_version, "kind": kind, **obj}
