"""Structural defaulting of custom resources from their CRD (docs/semantics-addendum.md R16.30), and the
status the Gateway API CRDs give a new Gateway or GatewayClass. In-process; the kubectl view is in
``test_failure_states_kubectl.py``."""

from __future__ import annotations

from ambient_lb.sim.controllers.crd_defaults import default
from ambient_lb.sim.controllers.keys import CRDS, GATEWAY_CLASSES
from ambient_lb.sim.controllers.objects import condition
from ambient_lb.sim.mesh import gatewayapi
from ambient_lb.sim.store import GR

from .conftest import Sim

GATEWAYS = GR("gateway.networking.k8s.io", "gateways")
PENDING = {"lastTransitionTime": "1970-01-01T00:00:00Z", "message": "Waiting for controller", "reason": "Pending",
           "status": "Unknown"}


def test_defaults_fill_absent_and_null_fields_and_walk_maps_and_lists() -> None:
    schema = {"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "default": "never"}}},
        "spec": {"type": "object", "default": {}, "properties": {
            "mode": {"type": "string", "default": "Same"},
            "kept": {"type": "string", "default": "x"},
            "nullable": {"type": "string", "default": "d", "nullable": True},
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "protocol": {"type": "string", "default": "TCP"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "weight": {"type": "integer", "default": 1}}}}}}}}
    obj = {"metadata": {}, "spec": {"kept": "mine", "mode": None, "nullable": None,
                                    "ports": [{"port": 80}, {"protocol": "UDP"}], "labels": {"a": {}}}}
    default(schema, obj, root=True)
    assert obj == {"metadata": {}, "spec": {"kept": "mine", "mode": "Same", "nullable": None,
                                            "ports": [{"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}],
                                            "labels": {"a": {"weight": 1}}}}
    empty: dict = {}
    default(schema, empty, root=True)
    assert empty == {"spec": {"mode": "Same", "kept": "x", "nullable": "d"}}


def test_a_new_gateway_and_gateway_class_get_the_crds_pending_status(bare: Sim) -> None:
    for crd in gatewayapi.standard_crds():
        bare.create(CRDS, crd)
    bare.advance(1)
    gw = bare.create(GATEWAYS, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                "metadata": {"name": "orphan", "namespace": "httpbin"},
                                "spec": {"gatewayClassName": "no-such-class",
                                         "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}})
    assert gw["status"] == {"conditions": [{**PENDING, "type": "Accepted"}, {**PENDING, "type": "Programmed"}]}
    gc = bare.create(GATEWAY_CLASSES, {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "GatewayClass",
                                       "metadata": {"name": "nobody"}, "spec": {"controllerName": "example.com/x"}})
    assert gc["status"] == {"conditions": [{**PENDING, "type": "Accepted"}]}
    bare.advance(30)  # no controller of this class: nothing changes it
    assert condition(bare.store.get(GATEWAYS, "httpbin", "orphan"), "Programmed")["reason"] == "Pending"


def test_a_status_write_without_conditions_gets_the_default_conditions(bare: Sim) -> None:
    """``status.conditions`` has its own default: a controller's status without conditions keeps them."""
    for crd in gatewayapi.standard_crds():
        bare.create(CRDS, crd)
    bare.advance(1)
    bare.create(GATEWAYS, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                           "metadata": {"name": "gw", "namespace": "httpbin"},
                           "spec": {"gatewayClassName": "x", "listeners": []}})
    updated = bare.update(GATEWAYS, "httpbin", "gw", lambda g: g.__setitem__("status", {"addresses": []}))
    assert updated["status"]["addresses"] == [] and len(updated["status"]["conditions"]) == 2
