"""What the API server refuses: bad names, missing required fields, unknown fields.

Who calls it: ``rest.py`` on every write (create, update, patch, apply) before the store changes,
so a refused request leaves no trace. Messages are the real apiserver's, so kubectl prints what a
learner would see on a cluster, e.g. ``The Namespace "Bad_Name" is invalid: metadata.name: Invalid
value: "Bad_Name": a lowercase RFC 1123 label must consist of …``.
"""

from __future__ import annotations

import re
from typing import Any

from .. import batch_rules, selectors
from ..resources import ResourceType
from . import schema as S
from .status import ApiError, invalid

Obj = dict[str, Any]
Cause = tuple[str, str, str]  # (reason, field, message)
RBAC_GROUP = "rbac.authorization.k8s.io"

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QNAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
             "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
             "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                 "'-' or '.', and must start and end with an alphanumeric character (e.g. "
                 "'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")

# kinds whose names must be DNS-1123 labels (63 chars, no dots); the rest are subdomains (253)
LABEL_NAMED = {("", "Namespace"), ("", "Service"), ("apps", "Deployment"), ("apps", "DaemonSet")}
# RBAC names are path segments (``ValidateRBACName``): ``system:masters`` is a valid name (R16.14)
PATH_NAMED = {("rbac.authorization.k8s.io", k) for k in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")}


def path_segment_causes(name: str, field: str) -> list[Cause]:
    """``path.IsValidPathSegmentName``: not ``.`` or ``..``, no ``/`` or ``%``."""
    msgs = [f"may not be '{name}'"] if name in (".", "..") else []
    msgs += [f"may not contain '{c}'" for c in "/%" if c in name]
    return [("FieldValueInvalid", field, f'Invalid value: "{name}": {m}') for m in msgs]


def name_causes(rt: ResourceType, md: Obj) -> list[Cause]:
    """The errors of an object's name: required, a string, and the format its kind needs."""
    name = md.get("name")
    if not name:
        return [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")]
    if not isinstance(name, str):
        return [("FieldValueInvalid", "metadata.name", f"Invalid value: {name!r}: must be a string")]
    if (rt.group, rt.kind) in PATH_NAMED:
        return path_segment_causes(name, "metadata.name")
    if (rt.group, rt.kind) in LABEL_NAMED:
        ok, limit, msg = _LABEL.match(name), 63, LABEL_MSG
    else:
        ok, limit, msg = _SUBDOMAIN.match(name), 253, SUBDOMAIN_MSG
    if len(name) > limit:
        return [("FieldValueInvalid", "metadata.name",
                 f'Invalid value: "{name}": must be no more than {limit} characters')]
    if not ok:
        return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {msg}')]
    return []


def label_causes(md: Obj) -> list[Cause]:
    """The errors of an object's labels and annotations: maps of strings, label values of the valid form."""
    out: list[Cause] = []
    for field in ("labels", "annotations"):
        m = md.get(field)
        if m is None:
            continue
        if not isinstance(m, dict) or not all(isinstance(v, str) for v in m.values()):
            out.append(("FieldValueInvalid", f"metadata.{field}", "Invalid value: must be a map of strings"))
            continue
        if field == "labels":
            for v in m.values():
                if v and (len(v) > 63 or not _QNAME.match(v)):
                    out.append(("FieldValueInvalid", "metadata.labels", f'Invalid value: "{v}": a valid '
                                "label must be an empty string or consist of alphanumeric characters, "
                                "'-', '_' or '.', and must start and end with an alphanumeric character"))
    return out


def _spec_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    """Required fields the real validation insists on (and the kubernetes client's models need)."""
    spec = found if isinstance(found := obj.get("spec"), dict) else {}
    key = (rt.group, rt.kind)
    out: list[Cause] = []
    if key == ("", "Pod"):
        out += _containers_causes(spec, "spec") + selectors.node_affinity_causes(spec, "spec")
    if key in {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "DaemonSet")}:
        tpl = spec.get("template") or {}
        labels = ((tpl.get("metadata") or {}).get("labels")) or {}
        # R18.4: valid, not empty, and selecting the template
        out += selectors.template_causes(spec.get("selector"), labels, "spec", rt.kind)
        policy = (tpl.get("spec") or {}).get("restartPolicy", "Always")
        if policy != "Always":  # R16.22: only a Job's pods may end for good
            out.append(("FieldValueNotSupported", "spec.template.spec.restartPolicy",
                        f'Unsupported value: "{policy}": supported values: "Always"'))
        out += _containers_causes(tpl.get("spec") or {}, "spec.template.spec")
        out += selectors.node_affinity_causes(tpl.get("spec") or {}, "spec.template.spec")
    if key == ("", "ReplicationController"):
        out += _rc_causes(spec)
    if key == ("", "Service") and spec.get("trafficDistribution") is not None \
            and spec["trafficDistribution"] != "PreferClose":
        # 1.31 (the version this server reports) knows PreferClose only; PreferSameZone and
        # PreferSameNode arrive in 1.33 (semantics.md R5.1)
        out.append(_supported("spec.trafficDistribution", spec["trafficDistribution"], ["PreferClose"]))
    if key in PATH_NAMED:
        out += rbac_causes(rt.kind, obj)
    if key == ("batch", "Job"):
        out += batch_rules.job_causes(obj)
    if key == ("batch", "CronJob"):
        out += batch_rules.cronjob_causes(obj)
    if key == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        out += _crd_causes(obj, spec)
    return out


def _supported(field: str, value: Any, allowed: list[str]) -> Cause:
    shown = ", ".join(f'"{a}"' for a in allowed)
    return ("FieldValueNotSupported", field, f'Unsupported value: "{value}": supported values: {shown}')


def rbac_causes(kind: str, obj: Obj) -> list[Cause]:
    """``ValidateRole``/``ClusterRole``/``RoleBinding``/``ClusterRoleBinding`` (R16.14)."""
    out: list[Cause] = []
    if kind in ("Role", "ClusterRole"):
        for i, rule in enumerate(obj.get("rules") or []):
            out += _rule_causes(rule if isinstance(rule, dict) else {}, kind == "Role", f"rules[{i}]")
        if kind == "ClusterRole" and isinstance(obj.get("aggregationRule"), dict):
            out += _aggregation_causes(obj["aggregationRule"])
        return out
    ref = found if isinstance(found := obj.get("roleRef"), dict) else {}
    if ref.get("apiGroup") != RBAC_GROUP:
        out.append(_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP]))
    kinds = ["Role", "ClusterRole"] if kind == "RoleBinding" else ["ClusterRole"]
    if ref.get("kind") not in kinds:
        out.append(_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        out.append(("FieldValueRequired", "roleRef.name", "Required value"))
    else:
        out += path_segment_causes(str(ref["name"]), "roleRef.name")
    for i, s in enumerate(obj.get("subjects") or []):
        out += _subject_causes(s if isinstance(s, dict) else {}, kind == "RoleBinding", f"subjects[{i}]")
    return out


def _aggregation_causes(rule: Obj) -> list[Cause]:
    """``ValidateClusterRole``: at least one selector, each a valid LabelSelector (R18.4)."""
    sels = rule.get("clusterRoleSelectors") or []
    if not sels:
        return [("FieldValueRequired", "aggregationRule.clusterRoleSelectors",
                 "Required value: at least one clusterRoleSelector required if aggregationRule is non-nil")]
    out: list[Cause] = []
    for i, sel in enumerate(sels):
        at = f"aggregationRule.clusterRoleSelectors[{i}]"
        sel = sel if isinstance(sel, dict) else {}
        out += selectors.selector_causes(sel, at)
        try:
            selectors.as_selector(sel)
        except selectors.SelectorError:
            # Go passes the failed conversion's nil Selector as the bad value: printed "null"
            out.append(("FieldValueInvalid", at, 'Invalid value: "null": invalid label selector.'))
    return out


def _rule_causes(rule: Obj, namespaced: bool, at: str) -> list[Cause]:
    out: list[Cause] = []
    if not rule.get("verbs"):
        out.append(("FieldValueRequired", f"{at}.verbs", "Required value: verbs must contain at least one value"))
    if rule.get("nonResourceURLs"):
        shown = "[]string{" + ", ".join(f'"{u}"' for u in rule["nonResourceURLs"]) + "}"
        if namespaced:
            out.append(("FieldValueInvalid", f"{at}.nonResourceURLs", f"Invalid value: {shown}: namespaced rules "
                        "cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            out.append(("FieldValueInvalid", f"{at}.nonResourceURLs", f"Invalid value: {shown}: rules cannot apply "
                        "to both regular resources and non-resource URLs"))
        return out
    if not rule.get("apiGroups"):
        out.append(("FieldValueRequired", f"{at}.apiGroups",
                    "Required value: resource rules must supply at least one api group"))
    if not rule.get("resources"):
        out.append(("FieldValueRequired", f"{at}.resources",
                    "Required value: resource rules must supply at least one resource"))
    return out


def _subject_causes(s: Obj, namespaced: bool, at: str) -> list[Cause]:
    out: list[Cause] = [] if s.get("name") else [("FieldValueRequired", f"{at}.name", "Required value")]
    kind, group = s.get("kind"), s.get("apiGroup", "")
    if kind == "ServiceAccount":
        if group:
            out.append(_supported(f"{at}.apiGroup", group, [""]))
        if not namespaced and not s.get("namespace"):
            out.append(("FieldValueRequired", f"{at}.namespace", "Required value"))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            out.append(_supported(f"{at}.apiGroup", group, [RBAC_GROUP]))
    else:
        out.append(_supported(f"{at}.kind", kind or "", ["ServiceAccount", "User", "Group"]))
    return out


def _rc_causes(spec: Obj) -> list[Cause]:
    """``ValidateReplicationControllerSpec``: a map selector that selects the template, which restarts Always."""
    sel = found if isinstance(found := spec.get("selector"), dict) else {}
    tpl = found if isinstance(found := spec.get("template"), dict) else None
    if tpl is None:
        return [("FieldValueRequired", "spec.template", "Required value")]
    out: list[Cause] = [] if sel else [("FieldValueRequired", "spec.selector", "Required value")]
    labels = ((tpl.get("metadata") or {}).get("labels")) or {}
    if sel and not selectors.set_matches(sel, labels):
        out.append(("FieldValueInvalid", "spec.template.metadata.labels",
                    f"Invalid value: {_gomap(labels)}: selector does not match template labels"))
    policy = (tpl.get("spec") or {}).get("restartPolicy", "Always")
    if policy != "Always":
        out.append(("FieldValueNotSupported", "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{policy}": supported values: "Always"'))
    return out + _containers_causes(tpl.get("spec") or {}, "spec.template.spec")


def _crd_causes(obj: Obj, spec: Obj) -> list[Cause]:
    names = found if isinstance(found := spec.get("names"), dict) else {}
    group, plural = spec.get("group") or "", names.get("plural") or ""
    name = (obj.get("metadata") or {}).get("name")
    out: list[Cause] = []
    for field, value in (("spec.group", group), ("spec.names.plural", plural), ("spec.names.kind", names.get("kind"))):
        if not value:
            out.append(("FieldValueRequired", field, "Required value"))
    if group and "." not in group:
        out.append(("FieldValueInvalid", "spec.group", f'Invalid value: "{group}": should be a domain with at '
                    "least one dot, e.g. example.com"))
    if group and plural and name != f"{plural}.{group}":
        out.append(("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": must be '
                    "spec.names.plural+\".\"+spec.group"))
    versions = found if isinstance(found := spec.get("versions"), list) else []
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        out.append(("FieldValueInvalid", "spec.versions", "Invalid value: must have exactly one version "
                    "marked as storage version"))
    return out


def _gomap(d: dict[str, str]) -> str:
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(d.items())) + "}"


def _containers_causes(pod_spec: Obj, at: str) -> list[Cause]:
    cs = pod_spec.get("containers")
    if not cs or not isinstance(cs, list):
        return [("FieldValueRequired", f"{at}.containers", "Required value")]
    out: list[Cause] = []
    for i, c in enumerate(cs):
        if not isinstance(c, dict):
            out.append(("FieldValueInvalid", f"{at}.containers[{i}]", "Invalid value: must be an object"))
            continue
        if not c.get("name"):
            out.append(("FieldValueRequired", f"{at}.containers[{i}].name", "Required value"))
        if not c.get("image"):
            out.append(("FieldValueRequired", f"{at}.containers[{i}].image", "Required value"))
    return out


# (group, kind) -> [(dotted path, expected JSON type)] for built-in fields a client could mistype;
# a wrong type is a decoding error in a real apiserver (400 "cannot unmarshal ...").
TYPED: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("", "ConfigMap"): [("data", "map[string]string"), ("binaryData", "map[string]string")],
    ("", "Secret"): [("data", "map[string]string"), ("stringData", "map[string]string"), ("type", "string")],
    ("apps", "Deployment"): [("spec.replicas", "int32")],
    ("apps", "ReplicaSet"): [("spec.replicas", "int32")],
    ("", "ReplicationController"): [("spec.replicas", "int32"), ("spec.selector", "map[string]string")],
    ("batch", "Job"): [("spec.parallelism", "int32"), ("spec.completions", "int32"), ("spec.backoffLimit", "int32"),
                       ("spec.activeDeadlineSeconds", "int64"), ("spec.ttlSecondsAfterFinished", "int32")],
    ("batch", "CronJob"): [("spec.schedule", "string"), ("spec.startingDeadlineSeconds", "int64")],
    ("", "Service"): [("spec.ports", "list"), ("spec.selector", "map[string]string"), ("spec.type", "string")],
    ("", "Pod"): [("spec.nodeName", "string"), ("spec.terminationGracePeriodSeconds", "int64")],
}
_CHECK = {
    "map[string]string": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "int32": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "int64": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str), "list": lambda v: isinstance(v, list),
}


def check_types(rt: ResourceType, obj: Obj) -> None:
    """400 for a built-in field of the wrong JSON type (it would not decode on a real server)."""
    for path, want in TYPED.get((rt.group, rt.kind), []):
        cur: Any = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is not None and not _CHECK[want](cur):
            raise cannot_handle(rt, f"json: cannot unmarshal {type(cur).__name__} into Go struct field "
                                f"{rt.kind}.{path} of type {want}")


_OPENAPI_TYPES = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                  "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict)}


def schema_type_causes(schema: Any, value: Any, at: str) -> list[Cause]:
    """Type errors against a CRD's openAPIV3Schema, as the apiextensions validator reports them."""
    if not isinstance(schema, dict) or value is None or schema.get("x-kubernetes-int-or-string"):
        return []
    want = schema.get("type")
    check = _OPENAPI_TYPES.get(want or "")
    if check is not None and not check(value):
        shown = json_type(value)
        return [("FieldValueTypeInvalid", at,
                 f'Invalid value: "{shown}": {at} in body must be of type {want}: "{shown}"')]
    out: list[Cause] = []
    if isinstance(value, dict):
        for k, sub in (schema.get("properties") or {}).items():
            if k in value:
                out += schema_type_causes(sub, value[k], f"{at}.{k}" if at else k)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k, v in value.items():
                if k not in (schema.get("properties") or {}):
                    out += schema_type_causes(extra, v, f"{at}.{k}" if at else k)
        for k in schema.get("required") or []:
            if k not in value:
                out.append(("FieldValueRequired", f"{at}.{k}" if at else k, "Required value"))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += schema_type_causes(schema["items"], item, f"{at}[{i}]")
    return out


def json_type(v: Any) -> str:
    """The JSON type name of a value, as the API server's messages say it."""
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(v), "null")


def crd_openapi(crd: Obj | None, version: str) -> Obj | None:
    """A CRD version's openAPIV3Schema, or None."""
    for v in ((crd or {}).get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            return (v.get("schema") or {}).get("openAPIV3Schema")
    return None


def validate(rt: ResourceType, obj: Obj, crd: Obj | None = None, version: str = "") -> None:
    """Raise 422 Invalid with every cause found (names, labels, required fields, CRD schema types)."""
    md = found if isinstance(found := obj.get("metadata"), dict) else {}
    check_types(rt, obj)
    why_not = batch_rules.refusal(rt.kind, obj) if rt.group == "batch" else None
    if why_not:  # R16.24: refused like an admission plugin's denial, never silently ignored
        raise ApiError("Forbidden", f'{rt.resource}.{rt.group} "{md.get("name") or md.get("generateName") or ""}" '
                       f"is forbidden: {why_not}", details={"name": md.get("name", ""), "group": rt.group,
                                                           "kind": rt.resource})
    causes = name_causes(rt, md) + label_causes(md) + _spec_causes(rt, obj)
    schema = crd_openapi(crd, version or rt.version) if crd else None
    if schema:
        body = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
        props = {k: v for k, v in (schema.get("properties") or {}).items()
                 if k not in ("metadata", "apiVersion", "kind")}
        causes += schema_type_causes({**schema, "properties": props, "required": [
            r for r in schema.get("required") or [] if r not in ("metadata", "apiVersion", "kind")]}, body, "")
    if causes:
        raise invalid(rt, str(md.get("name") or md.get("generateName") or ""), causes)


def check_shape(rt: ResourceType, obj: Any) -> Obj:
    """The body must be a JSON object whose ``metadata`` and ``spec`` are objects (else 400)."""
    if not isinstance(obj, dict):
        raise ApiError("BadRequest", f"the body of the request must be a {rt.kind} object, "
                       f"got {type(obj).__name__}; for example {{\"apiVersion\": "
                       f"\"{rt.group_version}\", \"kind\": \"{rt.kind}\", \"metadata\": {{\"name\": \"x\"}}}}")
    for field in ("metadata", "spec", "status"):
        if field in obj and obj[field] is not None and not isinstance(obj[field], dict):
            raise cannot_handle(rt, f'json: cannot unmarshal {type(obj[field]).__name__} into Go '
                                f'struct field {rt.kind}.{field} of type object')
    if obj.get("metadata") is None:
        obj["metadata"] = {}
    return obj


def cannot_handle(rt: ResourceType, why: str) -> ApiError:
    """400: the body cannot be decoded as this kind (and why)."""
    return ApiError("BadRequest", f'{rt.kind} in version "{rt.version}" cannot be handled as a '
                    f"{rt.kind}: {why}")


# ---- unknown fields -------------------------------------------------------------------------------
def unknown_fields(tree: Any, obj: Any, at: str = "") -> list[str]:
    """Paths of fields ``tree`` does not know, e.g. ``spec.template.spec.containers[0].bogus``."""
    if tree is S.ANY or not isinstance(obj, (dict, list)):
        return []
    if isinstance(tree, list):
        if not isinstance(obj, list):
            return []
        return [p for i, item in enumerate(obj) for p in unknown_fields(tree[0], item, f"{at}[{i}]")]
    if not isinstance(obj, dict):
        return []
    out: list[str] = []
    for k, v in obj.items():
        path = f"{at}.{k}" if at else k
        if k not in tree:
            out.append(path)
        else:
            out += unknown_fields(tree[k], v, path)
    return out


def prune(tree: Any, obj: Any) -> None:
    """Drop the fields ``tree`` does not know, in place (what decoding does without Strict)."""
    if tree is S.ANY:
        return
    if isinstance(tree, list) and isinstance(obj, list):
        for item in obj:
            prune(tree[0], item)
    elif isinstance(tree, dict) and isinstance(obj, dict):
        for k in [k for k in obj if k not in tree]:
            del obj[k]
        for k, v in obj.items():
            prune(tree[k], v)


def schema_for(rt: ResourceType, crd: Obj | None, version: str) -> Any:
    """The field schema of a type in a version: the CRD's, else the built-in one (None: not known)."""
    if rt.crd is not None or crd is not None:
        return S.crd_schema(crd or rt.crd, version)
    return S.BUILTIN_SCHEMAS.get((rt.group, rt.kind))


def field_validation(rt: ResourceType, obj: Obj, mode: str, tree: Any, *, apply: bool = False) -> list[str]:
    """Apply ``fieldValidation`` (Strict | Warn | Ignore) to ``obj``; returns warning texts.

    Strict raises 400 naming every unknown field; Warn and Ignore prune them (Warn also warns)."""
    if tree is None:
        return []
    unknown = unknown_fields(tree, obj)
    if not unknown:
        return []
    if mode not in ("Strict", "Warn", "Ignore", ""):
        raise ApiError("BadRequest", f'fieldValidation must be one of "Strict", "Warn" or "Ignore", got "{mode}"')
    if mode == "Strict":
        if apply:
            md = obj.get("metadata") or {}
            raise ApiError("BadRequest", f"failed to create typed patch object ({md.get('namespace', '')}/"
                           f"{md.get('name', '')}; {rt.group_version}, Kind={rt.kind}): "
                           + "; ".join(f".{p}: field not declared in schema" for p in unknown))
        raise cannot_handle(rt, "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown))
    prune(tree, obj)
    return [f'unknown field "{p}"' for p in unknown] if mode in ("Warn", "") else []
