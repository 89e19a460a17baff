"""The real kubectl reading from the simulator: get in every output form, selectors, describe,
events, logs, --raw, and the errors a learner sees. Asserts on what kubectl printed."""

from __future__ import annotations

import json

import pytest
import yaml

pytestmark = pytest.mark.kubectl


def lines(out: str) -> list[list[str]]:
    return [ln.split() for ln in out.strip().splitlines()]


def test_dispatcher_runs_kubectl_1_31_because_server_reports_minor_31(kubectl):
    out = kubectl("version").stdout
    assert "Client Version: v1.31" in out
    assert "Server Version: v1.31.9-ambient-lb-sim" in out


def test_get_pods_prints_one_row_per_pod_in_the_namespace(kubectl):
    rows = lines(kubectl("get", "pods", "-n", "demo").stdout)
    assert rows[0][0] == "NAME"
    assert sorted(r[0] for r in rows[1:]) == ["api-1", "web-1", "web-2"]


def test_get_all_namespaces_adds_the_namespace_column_from_row_metadata(kubectl):
    rows = lines(kubectl("get", "pods", "-A").stdout)
    assert rows[0][:2] == ["NAMESPACE", "NAME"]
    assert ["other", "db-1"] in [r[:2] for r in rows[1:]]
    assert ["demo", "web-2"] in [r[:2] for r in rows[1:]]


def test_get_with_label_selector_set_based_and_negated(kubectl):
    names = kubectl("get", "pods", "-n", "demo", "-l", "app in (web),tier!=back", "-o", "name").stdout.split()
    assert names == ["pod/web-1"]
    names = kubectl("get", "pods", "-n", "demo", "-l", "!tier", "-o", "name").stdout.split()
    assert names == ["pod/api-1"]


def test_get_with_field_selector_on_phase_and_node(kubectl):
    out = kubectl("get", "pods", "-A", "--field-selector", "status.phase=Running,spec.nodeName=sim-node-1",
                  "-o", "name").stdout.split()
    assert out == ["pod/web-1"]
    out = kubectl("get", "pods", "-n", "demo", "--field-selector", "status.phase!=Running", "-o", "name").stdout
    assert out.split() == ["pod/api-1"]


def test_unknown_field_selector_is_a_bad_request_naming_the_field(kubectl):
    r = kubectl("get", "pods", "-n", "demo", "--field-selector", "spec.bogus=1", ok=False)
    assert '"spec.bogus" is not a known field selector' in r.stderr


def test_show_labels_prints_labels_from_row_metadata(kubectl):
    rows = lines(kubectl("get", "pods", "-n", "demo", "--show-labels").stdout)
    assert rows[0][-1] == "LABELS"
    by_name = {r[0]: r[-1] for r in rows[1:]}
    assert by_name["web-1"] == "app=web,tier=front"


def test_sort_by_uses_full_objects_in_rows(kubectl):
    out = kubectl("get", "pods", "-n", "demo", "--sort-by", ".status.podIP", "-o", "name").stdout.split()
    assert out == ["pod/api-1", "pod/web-1", "pod/web-2"]


def test_output_json_is_a_pod_list_with_resource_version(kubectl):
    doc = json.loads(kubectl("get", "pods", "-n", "demo", "-o", "json").stdout)
    assert doc["kind"] == "List" or doc["kind"] == "PodList"
    assert {p["metadata"]["name"] for p in doc["items"]} == {"api-1", "web-1", "web-2"}
    assert all(p["apiVersion"] == "v1" and p["kind"] == "Pod" for p in doc["items"])


def test_output_yaml_of_one_object_has_server_bookkeeping(kubectl):
    doc = yaml.safe_load(kubectl("get", "pod", "web-1", "-n", "demo", "-o", "yaml").stdout)
    md = doc["metadata"]
    assert md["name"] == "web-1" and md["uid"] and int(md["resourceVersion"]) > 0
    assert md["creationTimestamp"].endswith("Z")


def test_output_jsonpath_prints_the_selected_values(kubectl):
    out = kubectl("get", "pods", "-n", "demo", "-l", "app=web", "-o",
                  "jsonpath={range .items[*]}{.metadata.name}={.status.podIP}{'\\n'}{end}").stdout
    assert out.split() == ["web-1=10.244.0.11", "web-2=10.244.0.12"]


def test_output_wide_works_for_nodes(kubectl):
    rows = lines(kubectl("get", "nodes", "-o", "wide").stdout)
    assert [r[0] for r in rows[1:]] == ["sim-node-1", "sim-node-2"]


def test_get_missing_object_prints_the_real_not_found_message(kubectl):
    r = kubectl("get", "pod", "nope", "-n", "demo", ok=False)
    assert 'Error from server (NotFound): pods "nope" not found' in r.stderr


def test_get_in_missing_namespace_prints_no_resources(kubectl):
    r = kubectl("get", "pods", "-n", "absent")
    assert "No resources found in absent namespace." in r.stderr


def test_describe_pod_shows_node_ip_and_events_found_by_involved_object(kubectl):
    out = kubectl("describe", "pod", "web-1", "-n", "demo").stdout
    assert "Node:" in out and "sim-node-1" in out
    assert "10.244.0.11" in out
    assert "Started container web" in out


def test_get_events_lists_the_seeded_event(kubectl, tables_ready):
    out = kubectl("get", "events", "-n", "demo").stdout
    assert "Started container web" in out


def test_logs_of_a_pod_and_tail(kubectl):
    assert kubectl("logs", "web-1", "-n", "demo").stdout.splitlines() == ["line 0", "line 1", "line 2"]
    assert kubectl("logs", "web-1", "-n", "demo", "--tail=1").stdout.splitlines() == ["line 2"]


def test_logs_of_a_container_waiting_to_start_say_so(kubectl):
    r = kubectl("logs", "api-1", "-n", "demo", ok=False)
    assert 'container "web" in pod "api-1" is waiting to start: ContainerCreating' in r.stderr


def test_logs_with_unknown_container_is_a_bad_request(kubectl):
    r = kubectl("logs", "web-1", "-n", "demo", "-c", "nope", ok=False)
    assert "container nope is not valid for pod web-1" in r.stderr


def test_get_raw_returns_the_list_json(kubectl):
    doc = json.loads(kubectl("get", "--raw", "/api/v1/namespaces/demo/pods?labelSelector=app%3Dweb").stdout)
    assert doc["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in doc["items"]] == ["web-1", "web-2"]


def test_get_raw_of_unknown_path_is_not_found(kubectl):
    r = kubectl("get", "--raw", "/apis/nope.example.com/v1/things", ok=False)
    assert "NotFound" in r.stderr or "could not find the requested resource" in r.stderr


def test_api_resources_lists_core_apps_and_crd_types(kubectl):
    out = kubectl("api-resources").stdout
    for needle in ("pods ", "deployments ", "customresourcedefinitions ", "endpointslices "):
        assert needle in out


def test_auth_can_i_is_always_yes(kubectl):
    assert kubectl("auth", "can-i", "delete", "pods", "-n", "demo").stdout.strip() == "yes"
    assert "*.*" in kubectl("auth", "can-i", "--list", "-n", "demo").stdout
