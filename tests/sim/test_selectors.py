"""The simulator's one selector implementation (sim/selectors.py, R18), tested without HTTP: the
string grammar and its messages, LabelSelector objects, map and Service selectors, node selector
terms, and the validation of a stored selector. The cases are the ones the three earlier copies
disagreed on (Gt/Lt and unknown operators, empty versus null, NotIn on a missing key)."""

from __future__ import annotations

import pytest

from ambient_lb.sim import selectors as S

WEB = {"app": "web", "tier": "front", "rank": "3"}


@pytest.mark.parametrize("text,labels,selected", [
    ("app=web", WEB, True), ("app==api", WEB, False), ("app!=api", WEB, True),
    ("tier in (front,back)", WEB, True), ("tier in (back)", WEB, False),
    ("tier notin (back)", WEB, True), ("tier notin (front)", WEB, False),
    ("canary notin (yes)", WEB, True),  # a missing key is not in any set
    ("canary!=yes", WEB, True), ("canary", WEB, False), ("!canary", WEB, True), ("!app", WEB, False),
    ("rank>2", WEB, True), ("rank<3", WEB, False), ("tier>2", WEB, False),  # "front" is no integer
    ("canary>0", WEB, False), ("x in ()", {"x": ""}, True), ("x=", {}, False), ("x=", {"x": ""}, True),
    ("in in (in)", {"in": "in"}, True), ("app=web, tier in (front)", WEB, True), ("", WEB, True),
])
def test_string_selector_selects_as_labels_parse_does(text, labels, selected):
    assert S.parse(text).matches(labels) is selected


@pytest.mark.parametrize("text,message", [
    ("app in web", "unable to parse requirement: found 'web' expected: '('"),
    ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("rank gt 2", "unable to parse requirement: found 'gt', expected: in, notin, =, ==, !=, gt, lt"),
    ("app,", "found '', expected: identifier after ','"),
    (",app", "found ',', expected: !, identifier, or 'end of string'"),
    ("!app=web", "found '=', expected: ',' or 'end of string'"),
    ("rank>two", "unable to parse requirement: values[0]: Invalid value: \"two\": for 'Gt', 'Lt' operators, "
                 "the value must be an integer"),
    ("app=we@b", 'unable to parse requirement: values[0][app]: Invalid value: "we@b": a valid label must be an '
                 "empty string"),
    ("app:web", 'unable to parse requirement: <nil>: Invalid value: "app:web": name part must consist of'),
])
def test_unparseable_string_selector_raises_the_apimachinery_message(text, message):
    with pytest.raises(S.SelectorError) as exc:
        S.parse(text)
    assert str(exc.value).startswith(message)


def test_gt_and_lt_are_refused_in_a_label_selector_object():
    sel = {"matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["2"]}]}
    with pytest.raises(S.SelectorError, match='"Gt" is not a valid pod selector operator'):
        S.as_selector(sel)
    assert S.matches(sel, WEB) is False  # a controller cannot convert it, so it selects nothing


def test_unknown_operator_selects_nothing_rather_than_being_ignored():
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Like", "values": ["f"]}]}
    assert S.matches(sel, WEB) is False


def test_null_label_selector_selects_nothing_and_empty_selects_everything():
    assert S.matches(None, WEB) is False
    assert S.matches({}, WEB) is True
    assert S.matches({"matchLabels": {}, "matchExpressions": []}, {}) is True


@pytest.mark.parametrize("expr,selected", [
    ({"key": "tier", "operator": "In", "values": ["front", "back"]}, True),
    ({"key": "tier", "operator": "NotIn", "values": ["front"]}, False),
    ({"key": "canary", "operator": "NotIn", "values": ["yes"]}, True),
    ({"key": "tier", "operator": "Exists"}, True), ({"key": "canary", "operator": "Exists"}, False),
    ({"key": "canary", "operator": "DoesNotExist"}, True), ({"key": "app", "operator": "DoesNotExist"}, False),
])
def test_match_expressions_with_the_four_object_operators(expr, selected):
    assert S.matches({"matchLabels": {"app": "web"}, "matchExpressions": [expr]}, WEB) is selected


def test_a_services_empty_selector_selects_no_pods_but_an_empty_node_selector_selects_every_node():
    assert S.service_selects({}, WEB) is False and S.service_selects(None, WEB) is False
    assert S.service_selects({"app": "web"}, WEB) is True
    assert S.set_matches({}, WEB) is True and S.set_matches(None, {}) is True
    assert S.set_matches({"app": "api"}, WEB) is False


def test_selector_string_sorts_requirements_by_key_and_values():
    sel = {"matchLabels": {"tier": "front", "app": "web"},
           "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable", "canary"]},
                                {"key": "beta", "operator": "DoesNotExist"}]}
    assert S.to_string(sel) == "app=web,!beta,tier=front,track in (canary,stable)"
    assert S.to_string({}) == "" and S.to_string(None) == ""
    assert str(S.from_set({"b": "2", "a": "1"})) == "a=1,b=2"


ZONE = "topology.kubernetes.io/zone"


def _terms(*terms):
    return {"nodeSelectorTerms": list(terms)}


def test_node_selector_terms_are_ored_and_an_empty_term_selects_no_node():
    labels = {ZONE: "zone-b", "cores": "8"}
    assert S.node_selector_matches(_terms({}), labels, "n1") is False
    assert S.node_selector_matches(_terms({}, {"matchExpressions": [{"key": ZONE, "operator": "In",
                                                                     "values": ["zone-b"]}]}), labels, "n1")


def test_node_selector_allows_gt_and_lt_on_integer_labels():
    gt4 = _terms({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]})
    lt4 = _terms({"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]})
    assert S.node_selector_matches(gt4, {"cores": "8"}, "n1") is True
    assert S.node_selector_matches(lt4, {"cores": "8"}, "n1") is False
    assert S.node_selector_matches(gt4, {"cores": "many"}, "n1") is False


def test_node_selector_match_fields_name_the_node():
    pin = _terms({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]})
    assert S.node_selector_matches(pin, {}, "n2") is True
    assert S.node_selector_matches(pin, {}, "n1") is False
    two = _terms({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]})
    assert S.node_selector_matches(two, {}, "n1") is False  # matchFields takes exactly one value


def test_validation_names_each_problem_of_a_stored_selector():
    sel = {"matchLabels": {"app": "we b"},
           "matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["2"]},
                                {"key": "tier", "operator": "In"},
                                {"key": "beta", "operator": "Exists", "values": ["x"]}]}
    causes = S.selector_causes(sel, "spec.selector")
    assert [(r, f) for r, f, _ in causes] == [
        ("FieldValueInvalid", "spec.selector.matchLabels"),
        ("FieldValueInvalid", "spec.selector.matchExpressions[0].operator"),
        ("FieldValueRequired", "spec.selector.matchExpressions[1].values"),
        ("FieldValueForbidden", "spec.selector.matchExpressions[2].values")]
    assert causes[1][2] == 'Invalid value: "Gt": not a valid selector operator'


def test_workload_selector_must_be_valid_not_empty_and_select_the_template():
    tpl = {"app": "web", "tier": "front"}
    ok = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}
    assert S.template_causes(ok, tpl, "spec", "Deployment") == []
    miss = {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}
    assert [f for _, f, _ in S.template_causes(miss, tpl, "spec", "ReplicaSet")] == ["spec.template.metadata.labels"]
    empty = S.template_causes({}, tpl, "spec", "Deployment")
    assert [m.split(": ")[-1] for _, _, m in empty] == ["empty selector is invalid for deployment"]
    empty = S.template_causes({}, tpl, "spec", "DaemonSet")
    assert [m.split(": ")[-1] for _, _, m in empty] == ["empty selector is invalid for daemonset"]


def test_a_missing_workload_selector_is_required_and_selects_no_template():
    tpl = {"app": "web"}
    assert [(r, f) for r, f, _ in S.template_causes(None, tpl, "spec", "Deployment")] == [
        ("FieldValueRequired", "spec.selector"), ("FieldValueInvalid", "spec.template.metadata.labels")]
    assert [(r, f) for r, f, _ in S.template_causes(None, tpl, "spec", "DaemonSet")] == [
        ("FieldValueInvalid", "spec.template.metadata.labels")]


@pytest.mark.parametrize("key,ok", [
    ("app", True), ("app.kubernetes.io/name", True), ("a/b/c", False), ("/name", False),
    ("Example.com/name", False), ("x" * 64, False), ("-app", False),
])
def test_label_keys_are_qualified_names(key, ok):
    assert (S.key_problems(key) == []) is ok


def test_pod_node_affinity_validation_refuses_unknown_operators_and_wrong_value_counts():
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]},
                              {"key": "zone", "operator": "Like", "values": ["a"]},
                              {"key": "disk", "operator": "Lt", "values": []}],
         "matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["n1", "n2"]}]}]}}}}
    causes = S.node_affinity_causes(spec, "spec")
    at = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
    assert [(r, f.removeprefix(at)) for r, f, _ in causes] == [
        ("FieldValueInvalid", ".matchExpressions[1].operator"),
        ("FieldValueRequired", ".matchExpressions[2].values"),
        ("FieldValueRequired", ".matchFields[0].values"),
        ("FieldValueInvalid", ".matchFields[0].key")]
    empty = {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}}
    assert [m for _, _, m in S.node_affinity_causes(empty, "spec")] == [
        "Required value: must have at least one node selector term"]
