"""Cluster calls for the steps, all through ``kube.Kube``.

Mutations and the guide's own reads go through kubectl (recorded, so a step shows them);
other reads and the waits use the client (watches).
"""

from __future__ import annotations

from typing import Any

from ..checks import from_wait
from ..errors import NotFound
from ..shell import quiet
from .run import Run, Step


def kubectl(run: Run, *args: str, input: str | None = None, check: bool = True,
            timeout: float | None = None, show_input: bool = False) -> Any:
    """A kubectl call shown as one of the step's commands; returns the command's result."""
    return run.kube.kubectl(*args, input=input, check=check, timeout=timeout, show_input=show_input)


def quietly(run: Run, *args: str, check: bool = True, timeout: float | None = None) -> Any:
    """A kubectl call the runbook makes for itself (not shown as a step's command)."""
    with quiet():
        return kubectl(run, *args, check=check, timeout=timeout)


def apply(run: Run, docs: list[dict[str, Any]], server_side: bool = False) -> Any:
    """Applies manifests (client-side, or server-side when asked) as a shown command."""
    return run.kube.apply(docs, server_side=server_side)


def get_json(run: Run, kind: str, name: str, namespace: str | None = None) -> Any:
    """One object as a dict, or None when it does not exist."""
    try:
        return run.kube.read(kind, name, namespace)
    except NotFound:
        return None


def items(run: Run, kind: str, namespace: str | None = None, selector: str | None = None) -> list:
    """The objects of a kind in a namespace, optionally filtered by a label selector."""
    return run.kube.items(kind, namespace, selector=selector)


def condition(obj: dict[str, Any] | None, kind: str, path: str = "") -> dict[str, Any]:
    """A condition of an object (``Programmed``), or of its first route parent (``Accepted``)."""
    if not obj:
        return {}
    status = obj.get("status") or {}
    conds = status.get("conditions") or []
    if path == "parents":
        conds = ((status.get("parents") or [{}])[0]).get("conditions") or []
    return next((c for c in conds if c.get("type") == kind), {})


def seen(cond: dict[str, Any]) -> str:
    """A condition as one line (``Ready=True reason=...: message``) for a check's detail."""
    if not cond:
        return "no such condition yet"
    return f"{cond.get('type')}={cond.get('status')} reason={cond.get('reason')}: " \
           f"{cond.get('message', '')}".strip()


def wait_condition(run: Run, s: Step, name: str, kind: str, obj: str, namespace: str | None,
                   cond: str, timeout: Any, hint: str) -> None:
    """Watch until ``cond`` is True; the check shows the condition (reason, message) either way."""
    s.add(from_wait(name, lambda: run.kube.wait_for_condition(kind, obj, namespace, cond,
                                                              timeout=timeout),
                    detail=lambda o: seen(condition(o, cond)), hint=hint))


def ready_pods(run: Run, namespace: str, selector: str) -> list[dict[str, Any]]:
    """The pods matching the selector that are Ready and not being deleted."""
    pods = items(run, "pods", namespace, selector)
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and condition(p, "Ready").get("status") == "True"]


def app_selector(run: Run) -> str:
    """The guide's selector (``-l app=in-ambient``): every pod behind the Service, step 4's failing
    replica included while it runs."""
    return f"app={run.params.app.name}"


FAULTY_LABEL = "variant=faulty"  # on step 4's failing replica, beside app=<app>


def replicas_selector(run: Run) -> str:
    """The in-ambient Deployment's own replicas: the app's pods but not step 4's failing replica."""
    return f"{app_selector(run)},{FAULTY_LABEL.replace('=', '!=')}"


def identity(namespace: str, sa: str) -> str:
    """The SPIFFE identity of a service account in the cluster.local trust domain."""
    return f"spiffe://cluster.local/ns/{namespace}/sa/{sa}"
