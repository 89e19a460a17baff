"""Store additions the API server relies on (finalizer completion, listener isolation) and the
selector grammar, tested without HTTP."""

from __future__ import annotations

import pytest

from ambient_lb.sim.clock import ManualClock
from ambient_lb.sim.server.selectors import field_selector, label_selector
from ambient_lb.sim.server.status import ApiError
from ambient_lb.sim.server.watch import transition
from ambient_lb.sim.store import GR, Store

CM = GR("", "configmaps")


def cm(name: str, **md) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "d", **md}}


def test_update_that_empties_finalizers_of_a_deleted_object_removes_it():
    st = Store(ManualClock())
    st.create(CM, cm("a", finalizers=["x"]))
    st.mutate(CM, "d", "a", lambda o: o["metadata"].update(deletionTimestamp="2025-01-01T00:00:00Z"))
    assert st.get(CM, "d", "a") is not None
    st.mutate(CM, "d", "a", lambda o: o["metadata"].pop("finalizers"))
    assert st.get(CM, "d", "a") is None


def test_pods_being_deleted_stay_until_removed_even_without_finalizers():
    """R6.1: the kubelet removes a terminating pod once its containers have exited."""
    st = Store(ManualClock())
    pods = GR("", "pods")
    st.create(pods, {"metadata": {"name": "p", "namespace": "d"}})
    st.mutate(pods, "d", "p", lambda o: o["metadata"].update(deletionTimestamp="2025-01-01T00:00:30Z"))
    assert st.get(pods, "d", "p") is not None


def test_a_failing_listener_does_not_stop_other_listeners_or_the_write():
    st = Store(ManualClock())
    seen = []

    def broken(ev):
        raise RuntimeError("bug in a controller")
    st.subscribe(broken)
    st.subscribe(lambda ev: seen.append(ev.type))
    st.create(CM, cm("a"))
    assert seen == ["ADDED"] and st.get(CM, "d", "a") is not None


@pytest.mark.parametrize("sel,labels,ok", [
    ("app=web", {"app": "web"}, True), ("app==web", {"app": "api"}, False),
    ("app!=web", {}, True), ("app in (a, web)", {"app": "web"}, True), ("app notin (web)", {}, True),
    ("app notin (web)", {"app": "web"}, False), ("app", {"app": ""}, True), ("!app", {"app": "x"}, False),
    ("app=web,tier in (front)", {"app": "web", "tier": "back"}, False),
])
def test_label_selector_grammar(sel, labels, ok):
    assert label_selector(sel)({"metadata": {"labels": labels}}) is ok


def test_bad_label_selector_is_a_bad_request_with_an_example():
    with pytest.raises(ApiError) as exc:
        label_selector("app in web")
    assert exc.value.code == 400 and 'for example "app=web"' in exc.value.message


def test_field_selector_on_event_involved_object_and_unknown_fields():
    pred = field_selector("involvedObject.name=web-1,involvedObject.kind!=Node", "Event")
    assert pred({"involvedObject": {"name": "web-1", "kind": "Pod"}})
    assert not pred({"involvedObject": {"name": "web-1", "kind": "Node"}})
    with pytest.raises(ApiError):
        field_selector("spec.nodeName=x", "ConfigMap")


def test_selector_transitions():
    from ambient_lb.sim.store import Event
    pred = label_selector("on=y")
    on, off = cm("a", labels={"on": "y"}), cm("a")
    assert transition(Event("MODIFIED", CM, on, off, 2), pred)[0] == "ADDED"
    assert transition(Event("MODIFIED", CM, off, on, 3), pred)[0] == "DELETED"
    assert transition(Event("MODIFIED", CM, off, off, 4), pred) is None


def test_protobuf_decoder_maps_a_configmap_and_rejects_garbage_cleanly():
    import random

    from ambient_lb.sim.server import protobuf
    # k8s\0 + Unknown{typeMeta{v1, ConfigMap}, raw{metadata{name: cm}, data{a: b}}}
    raw = b"\x0a\x04\x0a\x02cm" + b"\x12\x06\x0a\x01a\x12\x01b"
    tm = b"\x0a\x02v1\x12\x09ConfigMap"
    env = b"k8s\x00" + b"\x0a" + bytes([len(tm)]) + tm + b"\x12" + bytes([len(raw)]) + raw
    assert protobuf.decode(env) == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                                    "data": {"a": "b"}}
    rng = random.Random(3)
    for _ in range(500):
        junk = env[: rng.randrange(len(env))] + bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        try:
            protobuf.decode(junk)
        except protobuf.Unsupported:
            pass
