"""The text of the runbook's notebooks: markdown from the guide, one library call per code cell.

``tools/regenerate_notebooks.py`` builds ``notebooks/NN-*.ipynb`` from this file and executes them on
the simulator to store their outputs; edit the notebooks here, then run that one command.
Each notebook: a title, a ``parameters`` cell of typed literals, a cell deriving the run from them,
``guide.prepare`` (the earlier notebooks' state, made if missing), then the guide's steps.
"""

from __future__ import annotations

PARAMETERS = '''\
params_file: str = ""         # params YAML; empty means $AMBIENT_LB_PARAMS, else the simulator defaults
run_id: str = "ambient-lb"    # the ambient-lb.dev/run label value on every object the runbook creates
interactive: str = "auto"     # auto (buttons unless AMBIENT_LB_HEADLESS is set), yes or no'''

OPEN_RUN = '''\
from ambient_lb import guide

run = guide.open_run(params_file, run_id, interactive)
run'''

HOW = ("Each code cell carries out one step: it shows the commands it ran (the lines you would type), "
       "what came back, and live checks (PASS/FAIL, the evidence, and a hint when it fails). "
       "The parameters are in the cell tagged `parameters`; `ambient-lb run` sets them headless.")


def nb(title: str, intro: str, number: str, cells: list[tuple[str, str]]) -> list[tuple[str, str]]:
    head = [("md", f"# {title}\n\n{intro}\n\n{HOW}"), ("params", PARAMETERS), ("code", OPEN_RUN)]
    if number != "00":
        head += [("md", "Earlier notebooks' state (made now if it is missing, so this notebook runs "
                        "on its own):"), ("code", f'guide.prepare(run, "{number}")')]
    return head + cells


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "00-prerequisites": nb(
        "00 · Prerequisites", "Before you begin, the guide asks for an ambient mesh in one cluster. "
        "This notebook checks the tools, the cluster (on the simulator it starts it first), the mesh "
        "and the license key variable.", "00", [
            ("md", "Tools: `kubectl` (and `helm` on a real cluster) with their versions."),
            ("code", "guide.tools(run)"),
            ("md", "On the simulator: start the cluster-in-a-box unless it is running."),
            ("code", "guide.simulator(run)"),
            ("md", "The context named in the params answers."),
            ("code", "guide.cluster_reachable(run)"),
            ("md", "The ambient mesh: istiod, a ztunnel ready on every node, the Istio CRDs."),
            ("code", "guide.ambient_mesh(run)"),
            ("md", "The license key comes only from the environment variable the params name; its "
                   "value is never shown or stored."),
            ("code", "guide.license_key(run)"),
        ]),
    "01-install-kgateway": nb(
        "01 · Set up Solo Enterprise for kgateway (guide step 1)",
        "Install the Gateway API CRDs and Solo Enterprise for kgateway with the Istio integration, "
        "add `kgateway-system` to the mesh, create the Gateway `http` and find its address.", "01", [
            ("md", "Deploy the Kubernetes Gateway API CRDs."),
            ("code", "guide.gateway_api_crds(run)"),
            ("md", "Deploy the Solo Enterprise for kgateway CRDs with Helm."),
            ("code", "guide.kgateway_crds(run)"),
            ("md", "Install Solo Enterprise for kgateway with the `enterprise-kgateway.yaml` values "
                   "file (`KGW_ENABLE_ISTIO_INTEGRATION: true`) and the license key, and make sure "
                   "the control plane is running. The key reaches helm through a private values "
                   "file, never the command line."),
            ("code", "guide.kgateway(run)"),
            ("md", "Add `kgateway-system` to the ambient mesh: istiod configures a ztunnel socket "
                   "for its pods, so the gateway's traffic is mutual TLS."),
            ("code", "guide.ambient_namespace(run)"),
            ("md", "Create the Gateway `http` with an HTTP listener on port 8080 and wait until it "
                   "is Programmed."),
            ("code", "guide.gateway(run)"),
            ("md", "Get the gateway's address (`KGATEWAY_IP`); without a load balancer the runbook "
                   "keeps a port-forward open."),
            ("code", "guide.gateway_address(run)"),
        ]),
    "02-ingress-routing": nb(
        "02 · Deploy a sample app and test ingress routing (guide step 2)",
        "Traffic path without a waypoint: client → kgateway → (ztunnel, mTLS) → in-ambient pod.",
        "02", [
            ("md", "Deploy the `in-ambient` httpbin sample app."),
            ("code", "guide.sample_app(run)"),
            ("md", "Scale it to 3 replicas and wait until all are Ready."),
            ("code", "guide.scale_app(run)"),
            ("md", "Create the HTTPRoute for `httpbin.example.com` and check that it is Accepted."),
            ("code", "guide.http_route(run)"),
            ("md", "Send requests through the gateway: `/hostname` names the replica that answered. "
                   "Every replica should answer."),
            ("code", "guide.traffic_reaches_every_replica(run)"),
            ("md", "Prove mutual TLS: for each backend pod, find its node and the ztunnel on that "
                   "node, and read the SPIFFE identities of both sides in that ztunnel's log."),
            ("code", "guide.mtls_proof(run)"),
        ]),
    "03-waypoint": nb(
        "03 · Route ingress traffic through a waypoint (guide step 3)",
        "Traffic path with a waypoint: client → kgateway → ztunnel → waypoint (L7 policy, load "
        "balancing) → in-ambient pod.", "03", [
            ("md", "Create the waypoint Gateway and wait for its rollout. The runbook also asks Istio to "
                   "keep the waypoint's outlier-detection stats, which step 4 reads."),
            ("code", "guide.waypoint(run)"),
            ("md", "Before the labels: which hosts does the gateway's own Envoy balance over? (Its admin "
                   "port listens on the pod's loopback; a port-forward reaches it.)"),
            ("code", "guide.gateway_sees_pods(run)"),
            ("md", "Label the service so ingress traffic uses the waypoint."),
            ("code", "guide.use_waypoint(run)"),
            ("md", "After the labels: the gateway sees one host, the Service VIP, so a DestinationRule "
                   "at this leg has nothing to act on (the concepts page's \"VIP collapse\")."),
            ("code", "guide.gateway_sees_the_vip(run)"),
            ("md", "Send a request and find it in the waypoint's access log."),
            ("code", "guide.waypoint_in_path(run)"),
            ("md", "Send more requests: how does the waypoint spread them?"),
            ("code", "guide.waypoint_distribution(run)"),
        ]),
    "04-failover": nb(
        "04 · Test ingress failover (guide step 4)",
        "A DestinationRule at the waypoint, a pod deleted under traffic, then outlier detection "
        "shown for real: a replica that answers 500, its detection, its ejection and its return.", "04", [
            ("md", "Apply the guide's DestinationRule (ROUND_ROBIN; eject after 5 consecutive 5xx, "
                   "checks every 10 s, 30 s ejections)."),
            ("code", "guide.destination_rule(run)"),
            ("md", "Delete one pod while a background sampler keeps sending requests; the timeline "
                   "shows where each request went."),
            ("code", "guide.delete_pod_under_traffic(run)"),
            ("md", "Outlier detection needs a replica that fails. Deploy one more pod behind the "
                   "Service whose app answers 500, and find its answers in the waypoint's access log."),
            ("code", "guide.deploy_failing_replica(run)"),
            ("md", "With the guide's rule, read the waypoint's outlier counters (through `pilot-agent` "
                   "inside the waypoint) before and after some traffic."),
            ("code", "guide.no_ejection_by_default(run)"),
            ("md", "Allow ejections (`maxEjectionPercent: 100`) and send traffic again."),
            ("code", "guide.ejection(run)"),
            ("md", "Wait for the ejection to end: the replica is back at a sweep, still failing."),
            ("code", "guide.ejected_again(run)"),
            ("md", "Remove the failing replica."),
            ("code", "guide.remove_failing_replica(run)"),
        ]),
    "05-cleanup": nb(
        "05 · Cleanup", "Remove what the guide created, then check that nothing the runbook "
        "created is left (every object it creates carries the run label).", "05", [
            ("code", "guide.cleanup(run)"),
        ]),
    "06-locality-and-traffic-distribution": nb(
        "06 · Locality and traffic distribution (the concepts page, hands-on)",
        "The concepts page's four legs, each measured on a cluster with zones: client → gateway, "
        "gateway → backend, gateway → waypoint, waypoint → backend. Where each leg's locality comes from, "
        "`spec.trafficDistribution` and the `networking.istio.io/traffic-distribution` annotation (Service and "
        "Namespace), their precedence and defaults, and the spill when a zone loses pods. The lab runs in its "
        "own namespace `locality-lab` (a backend in every zone, routed for `zonal.example.com`) and removes it "
        "at the end; every distribution is checked against what the rules predict, with its tolerance.", "06", [
            ("md", "Locality is the nodes' `topology.kubernetes.io/zone` label. The lab needs two zones or more; "
                   "where does the gateway run?"),
            ("code", "guide.zones(run)"),
            ("md", "A backend in every zone: a Deployment per zone pinned by `nodeSelector`, one Service over "
                   "them, an HTTPRoute from the guide's gateway."),
            ("code", "guide.zonal_app(run)"),
            ("md", "Leg 1, client → gateway: which gateway pod (and zone) takes each request?"),
            ("code", "guide.client_to_gateway(run)"),
            ("md", "Leg 2, gateway → backend without a waypoint: no setting, then `spec.trafficDistribution`, "
                   "the Service annotation and the Namespace annotation, one against the other."),
            ("code", "guide.gateway_to_backend(run)"),
            ("md", "Leg 3, gateway → waypoint: the lab's waypoint, one replica per zone, and the Service bound "
                   "to it. Which waypoint pod does the gateway's ztunnel choose?"),
            ("code", "guide.gateway_to_waypoint(run)"),
            ("md", "Leg 4, waypoint → backend: ranked from the waypoint's node. No mode, PreferClose, and "
                   "PreferClose with one of the zone's two pods not ready."),
            ("code", "guide.waypoint_to_backend(run)"),
            ("md", "Explorer: choose the mode, where it is set, the pods per zone (ready and not), waypoint or "
                   "not; the cell applies it, sends traffic and sets the result beside the rules. Headless it "
                   "runs a fixed table of cases."),
            ("code", "guide.explorer(run)"),
            ("md", "Whose locality is leg 4's? Set the waypoint's own Service to `Any` (through the Gateway's "
                   "`spec.infrastructure.annotations`), so that every waypoint pod gets traffic, and see where each "
                   "one sends it."),
            ("code", "guide.every_waypoint_ranks_from_its_own_zone(run)"),
            ("md", "Remove what this notebook created (the namespace `locality-lab` holds all of it)."),
            ("code", "guide.lab_cleanup(run)"),
        ]),
    "07-outlier-detection-lab": nb(
        "07 · Outlier detection lab (the concepts page's \"Outlier detection and failover\")",
        "Where a DestinationRule acts, and what its `outlierDetection` really does. The gateway sees one "
        "address (the Service VIP), so outlier detection happens at the waypoint. Three extra replicas fail "
        "three real ways (nginx answering 500, answering 503, and listening on the wrong port so "
        "connections are refused); one rule at a time shows which errors count, the 10 % default, "
        "`maxEjectionPercent`, panic and `minHealthPercent`, ejection at the Nth error and return at a "
        "sweep with the back-off, and the locality failover an `outlierDetection` block turns on. The "
        "evidence is the waypoint's own: its outlier counters (through `pilot-agent`), `/clusters`, "
        "config_dump and access log. Everything the lab creates carries the label "
        "`ambient-lb.dev/lab=outlier-detection`; the last cell removes it.", "07", [
            ("md", "The concepts page: on the ingress → waypoint leg the gateway sees a single VIP, so a "
                   "DestinationRule cannot act there. The gateway's admin `/clusters` (through a "
                   "port-forward) shows one endpoint; the waypoint's (through `pilot-agent`) every pod."),
            ("code", "guide.vip_collapse(run)"),
            ("md", "Three replicas behind the same Service that fail three ways, made as on any cluster: step "
                   "4's nginx replica answering 500, the same answering 503, and one listening on 8081 while "
                   "the Service targets 8080. The lab's DestinationRule balances ROUND_ROBIN, without "
                   "outlier detection yet; the waypoint's access log shows what each one answers."),
            ("code", "guide.failing_replicas(run)"),
            ("md", "`consecutive5xxErrors: 3` and nothing else: is anything ejected?"),
            ("code", "guide.default_max_ejection(run)"),
            ("md", "`consecutiveGatewayErrors: 3` (5xx off, `maxEjectionPercent: 100`): which replicas go?"),
            ("code", "guide.gateway_errors(run)"),
            ("md", "`consecutive5xxErrors: 3` with `maxEjectionPercent: 100`: every 5xx counts."),
            ("code", "guide.consecutive_5xx(run)"),
            ("md", "`maxEjectionPercent` low enough for one host only."),
            ("code", "guide.max_ejection_percent(run)"),
            ("md", "`minHealthPercent` above the healthy share once the three are out: panic."),
            ("code", "guide.panic_threshold(run)"),
            ("md", "One failing replica under steady traffic, with a short `interval` and `baseEjectionTime`: "
                   "when is it ejected, when does it come back, and for how long is it out the second time? "
                   "The timeline is on the simulated clock."),
            ("code", "guide.sweep_and_backoff(run)"),
            ("md", "Drop `localityLbSetting` from the rule: the `outlierDetection` block alone turns on "
                   "locality failover at the waypoint (needs zones: skipped on a one-zone cluster)."),
            ("code", "guide.outlier_locality_failover(run)"),
            ("md", "Remove everything the lab created."),
            ("code", "guide.remove_outlier_lab(run)"),
        ]),
    "08-multicluster-failover": [
        ("md", "# 08 · Multicluster failover (the concepts page's multicluster scenario)\n\n"
               "Two peered clusters on two networks. The app runs in both and is exported as a global "
               "service; cluster1's gateway routes to `in-ambient.httpbin.mesh.internal`. While cluster1 has a "
               "healthy pod every request stays there (PreferNetwork); when its pods go, the traffic moves to "
               "cluster2 through its east-west gateway, and it comes back with them. On the simulator this "
               "notebook starts a second cluster-in-a-box with two clusters (`--topology two-clusters`); on a "
               "cluster, the params name the two contexts (`multicluster.contexts`). Every command names "
               "its cluster with `--context`.\n\n" + HOW),
        ("params", PARAMETERS), ("code", OPEN_RUN),
        ("md", "The two clusters: both answer, both run the ambient mesh, on two networks. On the simulator, "
               "start (or reuse) the two-cluster cluster-in-a-box first."),
        ("code", "guide.peered_clusters(run)"),
        ("md", "Guide step 1 in cluster1, the cluster with the gateway: the Gateway API CRDs, the two "
               "charts, `kgateway-system` in the mesh and the Gateway `http`."),
        ("code", "guide.kgateway_in_cluster1(run)"),
        ("md", "The `in-ambient` app in both clusters (same name, same namespace), and the label "
               "`solo.io/service-scope=global` on its Service in each: the global service."),
        ("code", "guide.app_in_both_clusters(run)"),
        ("md", "The guide's HTTPRoute, sent to the global hostname `in-ambient.httpbin.mesh.internal`."),
        ("code", "guide.route_to_global_service(run)"),
        ("md", "Send requests through cluster1's gateway: where do they go while cluster1's pods are healthy?"),
        ("code", "guide.prefer_network(run)"),
        ("md", "Scale cluster1's Deployment to 0 while traffic flows: the requests move to cluster2."),
        ("code", "guide.failover_to_cluster2(run)"),
        ("md", "The proof in both clusters' ztunnel logs: cluster1's gateway ztunnel sent the requests to "
               "cluster2's east-west gateway, and cluster2's ztunnels delivered them to its pods."),
        ("code", "guide.ztunnel_proof(run)"),
        ("md", "Scale cluster1 back: the traffic comes home."),
        ("code", "guide.return_to_cluster1(run)"),
        ("md", "The page sets `networking.istio.io/traffic-distribution` on the global service. With `Any` "
               "both clusters share the traffic."),
        ("code", "guide.any_mode(run)"),
        ("md", "What the page names and the cluster-in-a-box does not model: said plainly, and skipped."),
        ("code", "guide.other_service_scopes(run)"),
        ("code", "guide.waypoint_on_global_service(run)"),
        ("code", "guide.outlier_detection_across_clusters(run)"),
        ("md", "Remove what this notebook created in both clusters."),
        ("code", "guide.cleanup_clusters(run)"),
    ],
}


def build(name: str) -> object:
    """One notebook as an ``nbformat`` node, without outputs."""
    import nbformat.v4 as v4

    cells = []
    for kind, text in NOTEBOOKS[name]:
        if kind == "md":
            cells.append(v4.new_markdown_cell(text))
        else:
            cell = v4.new_code_cell(text)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            cells.append(cell)
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb
