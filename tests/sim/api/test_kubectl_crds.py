"""CRDs through the real kubectl: served the moment they are created (discovery, OpenAPI, strict
validation from the CRD schema), custom objects applied and printed, merge patch for CRs,
and the kind gone from discovery after the CRD is deleted."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.kubectl

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              tags: {type: array, items: {type: string}}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""

WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata: {{name: {name}, namespace: demo}}
spec: {{size: {size}{extra}}}
"""


@pytest.fixture(scope="module")
def crd(kubectl):
    out = kubectl("apply", "-f", "-", stdin=CRD).stdout
    assert out.strip() == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    return "widgets.example.com"


def test_crd_is_established_and_its_kind_discoverable_at_once(kubectl, crd):
    out = kubectl("wait", f"crd/{crd}", "--for=condition=Established", "--timeout=10s").stdout
    assert "condition met" in out
    assert "widgets" in kubectl("api-resources", "--api-group=example.com").stdout


def test_custom_object_apply_get_and_reapply_with_merge_patch(kubectl, crd):
    out = kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w1", size=3, extra=", tags: [a, b]")).stdout
    assert out.strip() == "widget.example.com/w1 created"
    out = kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w1", size=5, extra="")).stdout
    assert out.strip() == "widget.example.com/w1 configured"
    doc = json.loads(kubectl("get", "wd", "w1", "-n", "demo", "-o", "json").stdout)
    assert doc["spec"] == {"size": 5}


def test_custom_object_table_uses_printer_columns(kubectl, crd, tables_ready):
    kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w2", size=7, extra=""))
    rows = [ln.split() for ln in kubectl("get", "widgets", "-n", "demo").stdout.splitlines()]
    assert rows[0] == ["NAME", "SIZE", "AGE"]
    assert ["w2", "7"] == rows[[r[0] for r in rows].index("w2")][:2]


def test_unknown_field_in_custom_object_is_rejected_from_the_crd_schema(kubectl, crd):
    r = kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w3", size=1, extra=", colour: red"), ok=False)
    assert 'unknown field "spec.colour"' in r.stderr


def test_strategic_merge_patch_on_a_custom_object_is_415(kubectl, crd):
    kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w4", size=1, extra=""))
    r = kubectl("patch", "widget", "w4", "-n", "demo", "--type=strategic", "-p", '{"spec":{"size":2}}', ok=False)
    assert "UnsupportedMediaType" in r.stderr or "unknown format" in r.stderr


def test_deleting_the_crd_removes_its_objects_and_kind(kubectl, sim):
    kubectl("apply", "-f", "-", stdin=CRD.replace("widgets", "gadgets").replace("widget", "gadget")
            .replace("Widget", "Gadget").replace("[wd]", "[gd]"))
    kubectl("apply", "-f", "-", stdin=WIDGET.format(name="g1", size=1, extra="").replace("Widget", "Gadget"))
    kubectl("delete", "crd", "gadgets.example.com", "--timeout=20s")
    r = kubectl("get", "gadgets", "-n", "demo", ok=False)
    assert "doesn't have a resource type" in r.stderr or "NotFound" in r.stderr


def test_wrong_type_in_custom_object_is_422_from_the_crd_schema(kubectl, crd):
    r = kubectl("apply", "-f", "-", stdin=WIDGET.format(name="w5", size='"big"', extra=""), ok=False)
    assert "spec.size in body must be of type integer" in r.stderr


def test_crd_with_a_name_that_is_not_plural_dot_group_is_invalid(kubectl):
    bad = CRD.replace("name: widgets.example.com", "name: wrong.example.com")
    r = kubectl("apply", "-f", "-", stdin=bad, ok=False)
    assert 'is invalid: metadata.name: Invalid value: "wrong.example.com"' in r.stderr
