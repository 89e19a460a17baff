"""Admission defaults and allocation, the topology model, and the event recorder."""

from __future__ import annotations

import pytest

from ambient_lb.errors import ParameterError
from ambient_lb.sim.controllers import AdmissionInvalid
from ambient_lb.sim.controllers.keys import DEPLOYMENTS, NODES, PODS, SERVICES
from ambient_lb.sim.topology import Topology, load_topology, parse_topology

from .conftest import Sim, deployment, service


def test_service_gets_cluster_ip_and_default_fields(bare: Sim) -> None:
    svc = bare.create(SERVICES, service("in-ambient"))
    spec = svc["spec"]
    assert spec["clusterIP"].startswith("10.96.") and spec["clusterIPs"] == [spec["clusterIP"]]
    assert (spec["type"], spec["sessionAffinity"], spec["internalTrafficPolicy"]) == ("ClusterIP", "None", "Cluster")
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ports"][0]["protocol"] == "TCP"
    assert svc["status"] == {"loadBalancer": {}}


def test_cluster_ips_are_reproducible_under_seed_and_distinct(bare: Sim) -> None:
    a = bare.create(SERVICES, service("a"))["spec"]["clusterIP"]
    b = bare.create(SERVICES, service("b"))["spec"]["clusterIP"]
    assert a != b
    assert int(a.split(".")[2]) >= 1  # dynamic allocations stay out of the static band 10.96.0.0/24


def test_taken_cluster_ip_is_rejected_with_invalid(bare: Sim) -> None:
    ip = bare.create(SERVICES, service("a"))["spec"]["clusterIP"]
    with pytest.raises(AdmissionInvalid) as exc:
        bare.create(SERVICES, service("b", clusterIP=ip))
    assert exc.value.reason == "Invalid"
    assert str(exc.value) == f"Service \"b\" is invalid: spec.clusterIPs: Invalid value: ['{ip}']: " \
                             f"failed to allocate IP {ip}: provided IP is already allocated"
    assert exc.value.causes[0]["field"] == "spec.clusterIPs"


def test_cluster_ip_survives_an_update_without_it(bare: Sim) -> None:
    ip = bare.create(SERVICES, service("a"))["spec"]["clusterIP"]
    svc = bare.update(SERVICES, "httpbin", "a", lambda s: (s["spec"].pop("clusterIP"), s["spec"].pop("clusterIPs")))
    assert svc["spec"]["clusterIP"] == ip


def test_loadbalancer_service_gets_node_ports_and_no_ingress(bare: Sim) -> None:
    svc = bare.create(SERVICES, service("gw", type="LoadBalancer"))
    port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    assert svc["spec"]["externalTrafficPolicy"] == "Cluster" and svc["spec"]["allocateLoadBalancerNodePorts"] is True
    assert svc["status"] == {"loadBalancer": {}}
    with pytest.raises(AdmissionInvalid, match="provided port is already allocated"):
        bare.create(SERVICES, service("gw2", type="NodePort", ports=[{"port": 80, "nodePort": port}]))


def test_pod_defaults_match_a_real_api_server(bare: Sim) -> None:
    pod = bare.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "httpbin"},
                             "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                                                      "readinessProbe": {"httpGet": {"port": 80}}}]}})
    spec, c = pod["spec"], pod["spec"]["containers"][0]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["terminationGracePeriodSeconds"]) == (
        "Always", "ClusterFirst", 30)
    assert spec["serviceAccountName"] == "default" and spec["schedulerName"] == "default-scheduler"
    assert c["imagePullPolicy"] == "Always" and c["ports"][0]["protocol"] == "TCP"
    assert c["readinessProbe"]["periodSeconds"] == 10 and c["readinessProbe"]["failureThreshold"] == 3
    assert c["volumeMounts"][0]["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_deployment_defaults(bare: Sim) -> None:
    d = bare.create(DEPLOYMENTS, deployment("web"))
    assert d["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10 and d["spec"]["progressDeadlineSeconds"] == 600
    assert d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


# ---- topology ---------------------------------------------------------------------------------
def test_default_topology_is_three_nodes_in_one_zone() -> None:
    c = Topology.default().cluster()
    assert [n.name for n in c.nodes] == ["ambient-lb-sim-worker", "ambient-lb-sim-worker2", "ambient-lb-sim-worker3"]
    assert {n.zone for n in c.nodes} == {"us-central1-a"}
    assert [n.internal_ip for n in c.nodes] == ["172.18.0.2", "172.18.0.3", "172.18.0.4"]
    assert [n.pod_cidr for n in c.nodes] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]


def test_topology_file_with_two_clusters_and_subzones(tmp_path) -> None:
    f = tmp_path / "topo.yaml"
    f.write_text("clusters:\n"
                 "  - name: east\n    network: net1\n    nodes:\n"
                 "      - {name: e1, region: us-east1, zone: us-east1-b, subzone: rack1}\n"
                 "      - {name: e2, region: us-east1, zone: us-east1-c}\n"
                 "  - name: west\n    network: net2\n    nodes:\n      - {region: us-west1, zone: us-west1-a}\n")
    topo = load_topology(f)
    east, west = topo.cluster("east"), topo.cluster("west")
    assert east.node("e1").node_labels(east.network)["topology.istio.io/subzone"] == "rack1"
    assert east.node("e2").node_labels(east.network)["topology.istio.io/network"] == "net1"
    assert west.nodes[0].name == "west-worker" and west.nodes[0].internal_ip == "172.18.1.2"
    assert west.nodes[0].pod_cidr == "10.245.0.0/24"


def test_topology_nodes_shorthand_is_one_cluster() -> None:
    topo = parse_topology({"nodes": [{"zone": "a"}, {"zone": "b"}]})
    assert [n.zone for n in topo.cluster().nodes] == ["a", "b"]


@pytest.mark.parametrize("data, says", [
    ({"clusters": [{"name": "c", "nodes": [{"zone": "a", "zones": "b"}]}]}, "clusters.0.nodes.0.zones"),
    ({"clusters": [{"name": "Bad_Name"}]}, "not a valid DNS-1123 name"),
    ({"clusters": [{"name": "c", "nodes": [{"name": "n"}, {"name": "n"}]}]}, "appear twice"),
    (["not", "a", "mapping"], "expected a mapping"),
])
def test_bad_topology_names_the_key_and_gives_an_example(data, says) -> None:
    with pytest.raises(ParameterError) as exc:
        parse_topology(data, "topo.yaml")
    assert says in str(exc.value) and "example" in str(exc.value).lower()


def test_missing_topology_file_says_what_to_pass(tmp_path) -> None:
    with pytest.raises(ParameterError, match="cannot read the file"):
        load_topology(tmp_path / "nope.yaml")


def test_nodes_carry_topology_labels_and_ready_status(bare: Sim) -> None:
    node = bare.store.get(NODES, None, "ambient-lb-sim-worker2")
    assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == "us-central1-a"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "ambient-lb-sim-worker2"
    assert node["status"]["addresses"][0] == {"address": "172.18.0.3", "type": "InternalIP"}
    assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.32.")
    assert [c["type"] for c in node["status"]["conditions"]][-1] == "Ready"


# ---- events -----------------------------------------------------------------------------------
def test_repeated_event_raises_count_instead_of_adding(bare: Sim) -> None:
    rec = bare.cluster.extensions["events"]
    pod = bare.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "httpbin"},
                             "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "x:1"}]}})
    for _ in range(3):
        rec.record(pod, "v1", "Pod", "Warning", "Unhealthy", "Readiness probe failed: boom", "kubelet")
        bare.advance(1)
    (ev,) = bare.events("Unhealthy")
    assert ev["count"] == 3 and ev["type"] == "Warning" and ev["involvedObject"]["uid"] == pod["metadata"]["uid"]
    assert ev["firstTimestamp"] != ev["lastTimestamp"]


def test_events_are_bounded(bare: Sim) -> None:
    rec = bare.cluster.extensions["events"]
    rec.max_events = 10
    pod = bare.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "httpbin"},
                             "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "x:1"}]}})
    for i in range(25):
        rec.record(pod, "v1", "Pod", "Normal", "Test", f"message {i}", "test")
    bare.advance(0)
    evs = bare.events()
    assert len(evs) == 10 and {e["message"] for e in bare.events("Test")} >= {"message 24"}


def test_builtin_topologies_load_by_name() -> None:
    from ambient_lb.sim.topology import builtin_topologies
    assert set(builtin_topologies()) >= {"single-zone", "three-zones", "two-regions", "two-clusters"}
    zones = [n.zone for n in load_topology("three-zones").cluster().nodes]
    assert zones == ["us-central1-a", "us-central1-b", "us-central1-c"]
    two = load_topology("two-clusters")
    assert [c.network for c in two.clusters] == ["network1", "network2"]
    assert two.cluster("cluster2").nodes[0].internal_ip == "172.18.1.2"


def test_three_zone_topology_spreads_endpoints_over_zones() -> None:
    from ambient_lb.sim.clock import ManualClock
    from ambient_lb.sim.controllers.keys import ENDPOINT_SLICES
    from ambient_lb.sim.controllers.nodes import create_nodes
    from ambient_lb.sim.world import build_cluster
    topo = load_topology("three-zones")
    c = build_cluster(clock=ManualClock(), mesh=False, topology=topo)
    create_nodes(c, topo.cluster())
    sim = Sim(c)
    sim.namespace("httpbin")
    sim.create(SERVICES, service("in-ambient"))
    sim.create(DEPLOYMENTS, deployment("in-ambient", replicas=3))
    sim.advance(4)
    (s,) = sim.store.list(ENDPOINT_SLICES, "httpbin")
    assert sorted(e["zone"] for e in s["endpoints"]) == ["us-central1-a", "us-central1-b", "us-central1-c"]


@pytest.mark.parametrize("gr, body, says", [
    (PODS, {"spec": {"containers": "web"}},
     "cannot unmarshal string into Go struct field Pod.spec.containers of type array"),
    (PODS, {"spec": {"containers": [{"name": "c", "image": 5}]}}, "Pod.spec.containers[0].image of type string"),
    (SERVICES, {"spec": {"ports": [80]}},
     "cannot unmarshal number into Go struct field Service.spec.ports[0] of type object"),
    (DEPLOYMENTS, {"spec": {"template": "x"}}, "Deployment.spec.template of type object"),
])
def test_malformed_bodies_get_a_bad_request_naming_the_field(bare: Sim, gr, body, says) -> None:
    from ambient_lb.sim.controllers.shapes import ShapeError
    with pytest.raises(ShapeError) as exc:
        bare.create(gr, {"metadata": {"name": "x", "namespace": "httpbin"}, **body})
    assert exc.value.reason == "BadRequest" and says in str(exc.value)


def test_bad_percent_in_rolling_update_is_invalid(bare: Sim) -> None:
    from ambient_lb.sim.controllers.shapes import ShapeError
    d = deployment("web", strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "lots%"}})
    with pytest.raises(ShapeError) as exc:
        bare.create(DEPLOYMENTS, d)
    assert exc.value.reason == "Invalid" and "a valid percent string" in str(exc.value)
    assert exc.value.causes[0]["field"] == "spec.strategy.rollingUpdate.maxSurge"


def test_a_bad_object_in_the_store_does_not_stop_the_controllers(bare: Sim, caplog) -> None:
    """Objects put straight into the store skip admission; a reconcile that fails on one is logged
    and the others still run."""
    bad = deployment("bad")
    bad["spec"]["template"]["spec"] = "broken"
    bare.store.create(DEPLOYMENTS, bad)
    bare.create(DEPLOYMENTS, deployment("good"))
    bare.advance(4)
    assert len(bare.pods("httpbin", app="good")) == 1
    assert any("controller step" in r.getMessage() for r in caplog.records)
