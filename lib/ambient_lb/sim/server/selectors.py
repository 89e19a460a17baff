"""Label and field selectors, parsed once per request into a predicate over objects.

Who calls it: ``rest.py`` (list, deletecollection) and ``watch.py`` (which also uses the predicate
to turn selector transitions into ADDED/DELETED). Grammar as in k8s.io/apimachinery ``labels`` and
``fields``: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``; field
selectors support ``=``, ``==`` and ``!=`` on the paths in ``FIELD_PATHS``.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .status import ApiError

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VAL = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s+\((?P<vals>[^)]*)\)\s*$")
_EQ = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<val>{_VAL})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_VALUE = re.compile(rf"^{_VAL}$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( … )``."""
    terms, depth, cur = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return [t for t in terms if t.strip()]


def _bad_label(text: str, why: str) -> ApiError:
    return ApiError("BadRequest", f'unable to parse requirement: {why} in label selector "{text}"; '
                    'for example "app=web", "tier in (a,b)", "!canary"')


def _label_term(term: str, whole: str) -> Predicate:
    if m := _SET.match(term):
        vals = {v.strip() for v in m["vals"].split(",") if v.strip()}
        if not all(_VALUE.match(v) for v in vals):
            raise _bad_label(whole, f"invalid value in {term.strip()!r}")
        key, neg = m["key"], m["op"] == "notin"
        return lambda labels: (labels.get(key) in vals) != neg if key in labels else neg
    if m := _EQ.match(term):
        key, val, neg = m["key"], m["val"], m["op"] == "!="
        return lambda labels: (labels.get(key) == val) != neg
    if m := _EXISTS.match(term):
        key, neg = m["key"], bool(m["neg"])
        return lambda labels: (key in labels) != neg
    raise _bad_label(whole, f"cannot parse {term.strip()!r}")


def label_selector(text: str | None) -> Predicate | None:
    """A predicate over objects (their ``metadata.labels``), or None when there is no selector."""
    if not text or not text.strip():
        return None
    preds = [_label_term(t, text) for t in _split_terms(text)]
    return lambda obj: all(p((obj.get("metadata") or {}).get("labels") or {}) for p in preds)


def match_labels_selector(sel: dict[str, Any] | None) -> Predicate:
    """A LabelSelector object (``matchLabels`` + ``matchExpressions``) as a predicate over labels."""
    sel = sel or {}
    eq = dict(sel.get("matchLabels") or {})
    exprs = sel.get("matchExpressions") or []

    def ok(labels: dict[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in eq.items()):
            return False
        for e in exprs:
            op, key, vals = e.get("operator"), e.get("key"), e.get("values") or []
            present = key in labels
            if (op == "In" and labels.get(key) not in vals) or (op == "NotIn" and present and labels[key] in vals) \
                    or (op == "Exists" and not present) or (op == "DoesNotExist" and present):
                return False
        return True
    return ok


def _get(obj: Obj, dotted: str) -> str:
    cur: Any = obj
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None:
        return ""
    return str(cur).lower() if isinstance(cur, bool) else str(cur)


# fields every kind supports, plus per-kind extras (k8s registry GetAttrs / field label conversion)
COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("status.phase", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "spec.hostNetwork", "status.podIP", "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "Secret": ("type",),
    "ReplicaSet": ("status.replicas",),
}
_FIELD = re.compile(r"^\s*(?P<key>[A-Za-z0-9_.]+)\s*(?P<op>==|=|!=)\s*(?P<val>[^,]*?)\s*$")


def field_selector(text: str | None, kind: str) -> Predicate | None:
    """A predicate for ``fieldSelector``; an unsupported field is a 400 naming the supported ones."""
    if not text or not text.strip():
        return None
    allowed = COMMON_FIELDS + FIELD_PATHS.get(kind, ())
    preds: list[Predicate] = []
    for term in text.split(","):
        m = _FIELD.match(term)
        if not m:
            raise ApiError("BadRequest", f'invalid selector: {term!r}; only "key=value", "key==value" '
                           'and "key!=value" are supported, e.g. "status.phase=Running"')
        key, val, neg = m["key"], m["val"], m["op"] == "!="
        if key not in allowed:
            raise ApiError("BadRequest", f'"{key}" is not a known field selector: only '
                           f'"{", ".join(allowed)}"')
        path = "source.component" if (kind == "Event" and key == "source") else key
        preds.append(lambda o, p=path, v=val, n=neg: (_get(o, p) == v) != n)
    return lambda obj: all(p(obj) for p in preds)


def combine(*preds: Predicate | None) -> Predicate | None:
    ps = [p for p in preds if p is not None]
    if not ps:
        return None
    if len(ps) == 1:
        return ps[0]
    return lambda obj: all(p(obj) for p in ps)
