"""Notebook 05: the guide's cleanup, then proof that nothing the runbook created is left."""

from __future__ import annotations

from ..checks import check
from .cluster import items
from .run import RUN_LABEL, Run, Step, do_step, seconds

CREATED_KINDS = ("destinationrules", "httproutes", "gateways", "deployments", "services",
                 "serviceaccounts", "configmaps", "pods", "namespaces")


def cleanup(run: Run) -> None:
    """Step 05.1: delete what the runbook created and check nothing of it is left."""
    p = run.params
    ns = p.namespaces

    def act(run: Run, s: Step) -> None:
        k = run.kube
        k.delete("destinationrule", [p.destination_rule.name], namespace=ns.app, ignore_not_found=True)
        # the runbook's own addition to step 4 (04.7 removes it; a run stopped half-way leaves it)
        k.delete("deployment", [p.faulty.name], namespace=ns.app, ignore_not_found=True)
        k.delete("configmap", [p.faulty.name], namespace=ns.app, ignore_not_found=True)
        k.delete("httproute", [p.route.name], namespace=ns.app, ignore_not_found=True)
        k.delete("gateway", [p.waypoint.name], namespace=ns.app, ignore_not_found=True)
        k.delete_namespace(ns.app, ignore_not_found=True, timeout=seconds(p.timeouts.deletion))
        k.delete("gateway", [p.gateway.name], namespace=ns.kgateway, ignore_not_found=True)
        s.note("Like the guide, the cleanup keeps kgateway installed (see its uninstall guide) "
               "and the ambient label on kgateway-system.")

    def verify(run: Run, s: Step) -> None:
        left = leftovers(run)
        s.add(check("nothing the runbook created is left", not left,
                    "none" if not left else ", ".join(left[:10]),
                    f"kubectl get all -A -l {RUN_LABEL}; delete what is listed"))
    do_step(run, "05.1", "Clean up", act, verify)


def leftovers(run: Run) -> list[str]:
    """Objects that still carry this run's label (namespaces being deleted count until gone)."""
    found = []
    for kind in CREATED_KINDS:
        for obj in items(run, kind, None, f"{RUN_LABEL}={run.run_id}"):
            md = obj["metadata"]
            found.append(f"{kind}/{md.get('namespace', '') + '/' if md.get('namespace') else ''}"
                         f"{md['name']}")
    return found
