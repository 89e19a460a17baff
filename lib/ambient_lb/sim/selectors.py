"""Label and field selectors with the API server's semantics: the simulator's one implementation (R18).

Who calls it: the API server (``server/selectors.py`` turns the ``labelSelector`` and
``fieldSelector`` query parameters into a predicate and a ``SelectorError`` into 400;
``server/validation.py`` and ``batch_rules.py`` refuse a stored selector that is not valid with 422;
the Scale's ``status.selector``), the controllers (the scheduler's node affinity, endpoint slices,
ReplicaSets' fully-labelled count, ClusterRole aggregation), the mesh (istiod's Service views,
kgateway's ``allowedRoutes``) and the tables (``SELECTOR`` columns).

Three kinds of selector, each with its own answer for "empty" (R18.3):

- the string syntax (``labels.Parse``): ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``,
  ``a``, ``!a``, and ``a>1`` / ``a<1`` (integers); an empty string selects everything;
- a ``LabelSelector`` object (``metav1.LabelSelectorAsSelector``): ``matchLabels`` and
  ``matchExpressions`` with ``In``/``NotIn``/``Exists``/``DoesNotExist``; null selects nothing, ``{}``
  everything, any other operator is an error (a controller then selects nothing);
- a plain map (``labels.SelectorFromSet``): a pod's ``nodeSelector``, a ReplicationController's
  selector; empty selects everything, except a Service's, whose empty or missing selector gives
  no endpoints (``service_selects``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Labels = Mapping[str, str]
Predicate = Callable[[Obj], bool]
Cause = tuple[str, str, str]  # (reason, field path, message), as server/validation.py builds them

# a LabelSelectorRequirement's operator -> the selection.Operator it becomes; a node selector's
# NodeSelectorRequirement also takes Gt and Lt
OBJECT_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
NODE_OPERATORS = {**OBJECT_OPERATORS, "Gt": "gt", "Lt": "lt"}
# selection.Operator values the string parser names when it wants an operator (binaryOperators)
_BINARY = "in, notin, =, ==, !=, gt, lt"
EXAMPLE = 'for example "app=web", "tier in (a,b)", "!canary"'


class SelectorError(ValueError):
    """A selector the API server cannot use; ``str(err)`` is the apimachinery message."""


# ---- keys and values (k8s.io/apimachinery/pkg/util/validation, api/validate/content) ---------------
_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME = re.compile(_NAME_FMT)  # used with fullmatch (a "$" would let a trailing newline through)
_VALUE = re.compile(f"({_NAME_FMT})?")
_SUBDOMAIN_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_SUBDOMAIN = re.compile(_SUBDOMAIN_FMT)
_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
             f"validation is '{_NAME_FMT}')")
_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
              "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
              f"'my_value',  or '12345', regex used for validation is '({_NAME_FMT})?')")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                  "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                  f"regex used for validation is '{_SUBDOMAIN_FMT}')")


def key_problems(key: str) -> list[str]:
    """``IsQualifiedName``: ``[prefix/]name``, name at most 63 characters, prefix a DNS subdomain."""
    parts = key.split("/")
    if len(parts) > 2:
        return [f"a qualified name {_NAME_MSG} with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    name, out = parts[-1], []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            out.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                out.append("prefix part must be no more than 253 characters")
            if not _SUBDOMAIN.fullmatch(prefix):
                out.append(f"prefix part {_SUBDOMAIN_MSG}")
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if name and not _NAME.fullmatch(name):
        out.append(f"name part {_NAME_MSG}")
    return out


def value_problems(value: str) -> list[str]:
    """``IsValidLabelValue``: empty, or at most 63 characters of the name alphabet."""
    out = ["must be no more than 63 characters"] if len(value) > 63 else []
    return out + ([] if _VALUE.fullmatch(value) else [_VALUE_MSG])


# ---- requirements and selectors (k8s.io/apimachinery/pkg/labels) -----------------------------------
_SYMBOL = {"gt": ">", "lt": "<"}  # how String() writes Gt and Lt


@dataclass(frozen=True)
class Requirement:
    """One ``key op values`` term; ``op`` is a ``selection.Operator`` ("in", "=", "gt", …)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        """True when the labels satisfy this requirement."""
        present = self.key in labels
        if self.op in ("in", "=", "=="):
            return present and labels[self.key] in self.values
        if self.op in ("notin", "!="):
            return not present or labels[self.key] not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("gt", "lt") and present and _is_int(labels[self.key]) and len(self.values) == 1:
            have, want = int(labels[self.key]), int(self.values[0])
            return have > want if self.op == "gt" else have < want
        return False

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        vals = ",".join(sorted(self.values))
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({vals})"
        return f"{self.key}{_SYMBOL.get(self.op, self.op)}{vals}"


@dataclass(frozen=True)
class Selector:
    """Requirements ANDed; ``nothing`` is ``labels.Nothing()`` (what a null LabelSelector is)."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Labels | None) -> bool:
        """True when the labels satisfy every requirement (never for the selector that selects nothing)."""
        return not self.nothing and all(r.matches(labels or {}) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """``Selector.Empty()``: selects everything."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


def _is_int(text: str) -> bool:
    return bool(re.fullmatch(r"[+-]?[0-9]+", text)) and -2**63 <= int(text) < 2**63


def _sorted(reqs: Iterable[Requirement]) -> Selector:
    return Selector(tuple(sorted(reqs, key=lambda r: r.key)))


# operator -> whether it takes that many values, and NewRequirement's message when it does not
_ARITY: dict[str, tuple[Callable[[int], bool], str]] = {
    **dict.fromkeys(("in", "notin"), (lambda n: n > 0, "for 'in', 'notin' operators, values set can't be empty")),
    **dict.fromkeys(("=", "==", "!="), (lambda n: n == 1, "exact-match compatibility requires one single value")),
    **dict.fromkeys(("exists", "!"), (lambda n: n == 0, "values set must be empty for exists and does not exist")),
    **dict.fromkeys(("gt", "lt"), (lambda n: n == 1, "for 'Gt', 'Lt' operators, exactly one value is required")),
}


def requirement(key: str, op: str, values: Iterable[str]) -> Requirement:
    """``labels.NewRequirement``: checks the key, the number of values and each value."""
    vals = tuple(values)
    errs = [f'key: Invalid value: "{key}": {m}' for m in key_problems(key)]
    takes, why = _ARITY[op]
    if not takes(len(vals)):
        errs.append(f"values: Invalid value: {_go_strings(vals)}: {why}")
    if op in ("gt", "lt"):
        errs += [f'values[{i}]: Invalid value: "{v}": for \'Gt\', \'Lt\' operators, the value must be an integer'
                 for i, v in enumerate(vals) if not _is_int(v)]
    errs += [f'values[{i}][{key}]: Invalid value: "{v}": {m}'
             for i, v in enumerate(vals) for m in value_problems(v)]
    if errs:
        raise SelectorError(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
    return Requirement(key, op, vals)


def _go_strings(vals: Iterable[str]) -> str:
    """Go's ``%#v`` of a ``[]string``."""
    return "[]string{" + ", ".join(f'"{v}"' for v in vals) + "}"


# ---- the string syntax (labels.Parse) -------------------------------------------------------------
_SPECIAL = "=!(),><"
_TOKENS = {"!=", "==", "=", "!", "(", ")", ",", ">", "<"}
_OPS = {"in": "in", "notin": "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}


def _lex(text: str) -> list[tuple[str, str]]:
    """(kind, literal) tokens: kind is "id", "end", "error" or the symbol/keyword itself."""
    out, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            out.append(("end", ""))
            return out
        if text[i] in _SPECIAL:
            j, last = i, None
            while j < n and text[j] in _SPECIAL:
                if text[i:j + 1] in _TOKENS:
                    last = j + 1
                elif last is not None:
                    break
                j += 1
            if last is None:
                out.append(("error", f"error expected: keyword found '{text[i:j]}'"))
                i = j
            else:
                out.append((text[i:last], text[i:last]))
                i = last
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in " \t\r\n":
            j += 1
        word = text[i:j]
        out.append((word if word in ("in", "notin") else "id", word))
        i = j


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, lit = self.items[self.pos]
        return ("id" if values and kind in ("in", "notin") else kind), lit

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == "end":
                return reqs
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            kind, lit = self.take()
            if kind == "end":
                return reqs
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
        if kind != "id":
            raise SelectorError(f"found '{key}', expected: identifier")
        if problems := key_problems(key):
            raise SelectorError(f'<nil>: Invalid value: "{key}": {"; ".join(problems)}')
        if negated or self.peek()[0] in ("end", ","):
            return requirement(key, "!" if negated else "exists", ())
        kind, lit = self.take(values=False)
        if kind not in _OPS:
            raise SelectorError(f"found '{lit}', expected: {_BINARY}")
        op = _OPS[kind]
        values = self.value_set() if op in ("in", "notin") else self.exact_value()
        return requirement(key, op, sorted(values))

    def value_set(self) -> set[str]:
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        kind, lit = self.peek()
        if kind == ")":
            self.take()
            return {""}
        if kind not in ("id", ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            kind, lit = self.take()
            if kind == "id":
                values.add(lit)
                nxt, nlit = self.peek()
                if nxt == ")":
                    self.take()
                    return values
                if nxt != ",":
                    raise SelectorError(f"found '{nlit}', expected: ',' or ')'")
            elif kind == ",":
                if not values:
                    values.add("")
                nxt, _ = self.peek()
                if nxt == ")":
                    self.take()
                    return values | {""}
                if nxt == ",":
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        kind, lit = self.peek()
        if kind in ("end", ","):
            return {""}
        kind, lit = self.take()
        if kind != "id":
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


def parse(text: str | None) -> Selector:
    """``labels.Parse``: the string form of a label selector; an empty one selects everything."""
    return _sorted(_Parser(text or "").parse())


# ---- LabelSelector objects (metav1.LabelSelectorAsSelector) ----------------------------------------
def as_selector(selector: Obj | None) -> Selector:
    """A ``LabelSelector`` as a Selector: null selects nothing, ``{}`` everything; an operator other
    than In/NotIn/Exists/DoesNotExist, or a bad key or value, raises ``SelectorError``."""
    if selector is None:
        return NOTHING
    if not isinstance(selector, dict):
        raise SelectorError(f"a label selector is an object with matchLabels and matchExpressions, not {selector!r}")
    ml = selector.get("matchLabels") or {}
    exprs = selector.get("matchExpressions") or []
    if not ml and not exprs:
        return EVERYTHING
    reqs = [requirement(str(k), "=", [str(v)]) for k, v in ml.items()]
    for e in exprs:
        op = e.get("operator")
        if op not in OBJECT_OPERATORS:
            raise SelectorError(f'"{op}" is not a valid pod selector operator')
        reqs.append(requirement(str(e.get("key", "")), OBJECT_OPERATORS[op], [str(v) for v in e.get("values") or []]))
    return _sorted(reqs)


def matches(selector: Obj | None, labels: Labels | None) -> bool:
    """Whether a ``LabelSelector`` selects ``labels``, as a controller sees it: a selector it cannot
    convert selects nothing (the controller logs the error and skips the object)."""
    try:
        return as_selector(selector).matches(labels)
    except SelectorError:
        return False


def to_string(selector: Obj | None) -> str:
    """``LabelSelectorAsSelector(sel).String()``: ``app=web,tier in (a,b)`` (the Scale's
    ``status.selector``, the ``SELECTOR`` column); ``""`` for a null, empty or invalid selector."""
    try:
        return str(as_selector(selector))
    except SelectorError:
        return ""


# ---- plain maps (labels.SelectorFromSet) ----------------------------------------------------------
def from_set(selector: Mapping[str, str] | None) -> Selector:
    """``labels.SelectorFromSet``: one ``key=value`` per entry; empty or missing selects everything."""
    return _sorted(Requirement(str(k), "=", (str(v),)) for k, v in (selector or {}).items())


def set_matches(selector: Mapping[str, str] | None, labels: Labels | None) -> bool:
    """A map selector (``nodeSelector``, a ReplicationController's): empty or missing selects everything."""
    have = labels or {}
    return all(k in have and have[k] == v for k, v in (selector or {}).items())


def service_selects(selector: Mapping[str, str] | None, labels: Labels | None) -> bool:
    """A Service's ``spec.selector``: empty or missing selects nothing, so no endpoints (R18.3)."""
    return bool(selector) and set_matches(selector, labels)


# ---- node selectors (component-helpers nodeaffinity) ----------------------------------------------
def node_selector_matches(node_selector: Obj | None, node_labels: Labels | None, node_name: str) -> bool:
    """``requiredDuringSchedulingIgnoredDuringExecution``: terms ORed; a term's expressions (with
    ``Gt``/``Lt``) and fields (``metadata.name``, In/NotIn with one value) ANDed; an empty term, or
    one that does not parse, selects nothing."""
    return any(_term_matches(t, node_labels or {}, node_name)
               for t in (node_selector or {}).get("nodeSelectorTerms") or [])


def _term_matches(term: Obj, node_labels: Labels, node_name: str) -> bool:
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if any(e.get("operator") not in NODE_OPERATORS for e in exprs):
        return False
    try:
        reqs = [requirement(str(e.get("key", "")), NODE_OPERATORS[e["operator"]],
                            [str(v) for v in e.get("values") or []]) for e in exprs]
    except SelectorError:
        return False
    if not all(r.matches(node_labels) for r in reqs):
        return False
    for f in fields:
        vals = f.get("values") or []
        if f.get("operator") not in ("In", "NotIn") or len(vals) != 1:
            return False
        have = {"metadata.name": node_name}.get(f.get("key", ""))
        if (have == vals[0]) != (f["operator"] == "In"):
            return False
    return True


def node_affinity_causes(pod_spec: Obj, at: str) -> list[Cause]:
    """``ValidateNodeSelector`` on a pod spec's required node affinity (R18.6): at least one term;
    expressions with a node operator and the values it takes, a qualified-name key; fields only
    ``metadata.name``, In/NotIn with one value. ``at`` is the pod spec's path."""
    aff = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}) if isinstance(pod_spec, dict) else {}
    required = aff.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return []
    here = f"{at}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return [("FieldValueRequired", here, "Required value: must have at least one node selector term")]
    out: list[Cause] = []
    for i, term in enumerate(terms):
        for j, e in enumerate((term or {}).get("matchExpressions") or []):
            out += _node_expression_causes(e, f"{here}[{i}].matchExpressions[{j}]")
        for j, f in enumerate((term or {}).get("matchFields") or []):
            out += _node_field_causes(f, f"{here}[{i}].matchFields[{j}]")
    return out


def _node_expression_causes(e: Obj, at: str) -> list[Cause]:
    op, vals, key = e.get("operator"), e.get("values") or [], str(e.get("key", ""))
    out: list[Cause] = []
    if op in ("In", "NotIn") and not vals:
        out.append(("FieldValueRequired", f"{at}.values",
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist") and vals:
        out.append(("FieldValueForbidden", f"{at}.values",
                    "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif op in ("Gt", "Lt") and len(vals) != 1:
        out.append(("FieldValueRequired", f"{at}.values",
                    "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"))
    elif op not in NODE_OPERATORS:
        out.append(("FieldValueInvalid", f"{at}.operator", f'Invalid value: "{op}": not a valid selector operator'))
    return out + [("FieldValueInvalid", f"{at}.key", f'Invalid value: "{key}": {m}') for m in key_problems(key)]


def _node_field_causes(f: Obj, at: str) -> list[Cause]:
    op, vals, key = f.get("operator"), f.get("values") or [], f.get("key", "")
    out: list[Cause] = []
    if op in ("In", "NotIn") and len(vals) != 1:
        out.append(("FieldValueRequired", f"{at}.values", "Required value: must be only one value when `operator` "
                    "is 'In' or 'NotIn' for node field selector"))
    elif op not in ("In", "NotIn"):
        out.append(("FieldValueInvalid", f"{at}.operator", f'Invalid value: "{op}": not a valid selector operator'))
    if key != "metadata.name":
        out.append(("FieldValueInvalid", f"{at}.key", f'Invalid value: "{key}": not a valid field selector key'))
    return out


# ---- validation of a stored LabelSelector (ValidateLabelSelector) ----------------------------------
def selector_causes(selector: Obj, at: str) -> list[Cause]:
    """``metav1validation.ValidateLabelSelector`` (values checked strictly): what makes a stored
    selector invalid, as 422 causes under ``at`` (e.g. ``spec.selector``)."""
    out: list[Cause] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        out += [("FieldValueInvalid", f"{at}.matchLabels", f'Invalid value: "{k}": {m}')
                for m in key_problems(str(k))]
        out += [("FieldValueInvalid", f"{at}.matchLabels", f'Invalid value: "{v}": {m}')
                for m in value_problems(str(v))]
    for i, e in enumerate(selector.get("matchExpressions") or []):
        here, op, vals = f"{at}.matchExpressions[{i}]", e.get("operator"), e.get("values") or []
        if op in ("In", "NotIn") and not vals:
            out.append(("FieldValueRequired", f"{here}.values",
                        "Required value: must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and vals:
            out.append(("FieldValueForbidden", f"{here}.values",
                        "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op not in OBJECT_OPERATORS:
            out.append(("FieldValueInvalid", f"{here}.operator",
                        f'Invalid value: "{op}": not a valid selector operator'))
        key = str(e.get("key", ""))
        out += [("FieldValueInvalid", f"{here}.key", f'Invalid value: "{key}": {m}') for m in key_problems(key)]
        out += [("FieldValueInvalid", f"{here}.values[{j}]", f'Invalid value: "{v}": {m}')
                for j, v in enumerate(vals) for m in value_problems(str(v))]
    return out


def go_value(selector: Obj | None) -> str:
    """How Go's ``%#v`` prints a ``v1.LabelSelector`` in a 422 message."""
    sel = selector or {}
    ml = sel.get("matchLabels")
    labels = ("map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(ml.items())) + "}") if ml \
        else "map[string]string(nil)"
    exprs = sel.get("matchExpressions")
    if exprs:
        items = []
        for e in exprs:
            vals = e.get("values")
            shown = ("[]string{" + ", ".join(f'"{v}"' for v in vals) + "}") if vals else "[]string(nil)"
            key, op = e.get("key", ""), e.get("operator", "")
            items.append(f'v1.LabelSelectorRequirement{{Key:"{key}", Operator:"{op}", Values:{shown}}}')
        reqs = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    else:
        reqs = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{reqs}}}"


def template_causes(selector: Obj | None, template_labels: Labels, at: str, kind: str) -> list[Cause]:
    """A workload's selector checked as ``Validate<Kind>Spec`` does (R18.4); ``at`` is the spec's
    path. Deployment and ReplicaSet: required, valid, not empty ("… invalid for deployment", the
    ReplicaSet's text too), convertible, selecting the template. DaemonSet: valid, selecting the
    template (a null one selects nothing, so it does not), not empty."""
    if selector is not None and not isinstance(selector, dict):
        return [("FieldValueInvalid", f"{at}.selector", "Invalid value: must be a LabelSelector object")]
    out = [] if selector is not None or kind == "DaemonSet" else [("FieldValueRequired", f"{at}.selector",
                                                                    "Required value")]
    out += selector_causes(selector, f"{at}.selector") if selector is not None else []
    empty = selector is not None and not (selector.get("matchLabels") or selector.get("matchExpressions"))
    if empty and kind != "DaemonSet":
        out.append(("FieldValueInvalid", f"{at}.selector",
                    f"Invalid value: {go_value(selector)}: empty selector is invalid for deployment"))
    try:
        sel = as_selector(selector)
    except SelectorError:
        sel = None
        if kind != "DaemonSet":
            out.append(("FieldValueInvalid", f"{at}.selector",
                        f"Invalid value: {go_value(selector)}: invalid label selector"))
    if sel is not None and not (sel.empty and kind != "DaemonSet") and not sel.matches(template_labels):
        shown = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(template_labels.items())) + "}"
        out.append(("FieldValueInvalid", f"{at}.template.metadata.labels",
                    f"Invalid value: {shown}: `selector` does not match template `labels`"))
    if empty and kind == "DaemonSet":
        out.append(("FieldValueInvalid", f"{at}.selector",
                    f"Invalid value: {go_value(selector)}: empty selector is invalid for daemonset"))
    return out


# ---- predicates over objects for list and watch ----------------------------------------------------
def label_predicate(text: str | None) -> Predicate | None:
    """A predicate over objects (their ``metadata.labels``) for ``?labelSelector=``; None when none
    is given. Raises ``SelectorError`` (the server answers 400)."""
    if not text or not text.strip():
        return None
    sel = parse(text)
    return lambda obj: sel.matches((obj.get("metadata") or {}).get("labels") or {})


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


def _field_value(obj: Obj, dotted: str) -> str:
    cur: Any = obj
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None:
        return ""
    return str(cur).lower() if isinstance(cur, bool) else str(cur)


def field_predicate(text: str | None, kind: str) -> Predicate | None:
    """A predicate for ``?fieldSelector=`` on ``kind``; an unsupported field or term raises
    ``SelectorError`` naming the supported ones."""
    if not text or not text.strip():
        return None
    allowed = COMMON_FIELDS + FIELD_PATHS.get(kind, ())
    preds: list[Predicate] = []
    for term in text.split(","):
        m = _FIELD.match(term)
        if not m:
            raise SelectorError(f'invalid selector: {term!r}; only "key=value", "key==value" '
                                'and "key!=value" are supported, e.g. "status.phase=Running"')
        key, val, neg = m["key"], m["val"], m["op"] == "!="
        if key not in allowed:
            raise SelectorError(f'"{key}" is not a known field selector: only "{", ".join(allowed)}"')
        path = "source.component" if (kind == "Event" and key == "source") else key

        def matches(o: Obj, p: str = path, v: str = val, n: bool = neg) -> bool:
            return (_field_value(o, p) == v) != n
        preds.append(matches)
    return lambda obj: all(p(obj) for p in preds)


def combine(*preds: Predicate | None) -> Predicate | None:
    """All of the given predicates (None ones ignored); None when there are none."""
    ps = [p for p in preds if p is not None]
    if not ps:
        return None
    if len(ps) == 1:
        return ps[0]
    return lambda obj: all(p(obj) for p in ps)
