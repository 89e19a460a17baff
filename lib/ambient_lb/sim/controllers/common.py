"""Shared pieces of the control-plane controllers: type keys, object readers, label selectors,
owner references, conditions, and the coalescing work queue every controller reconciles from.

Who calls it: every module of ``sim/controllers``. Store objects are read-only (``sim/store.py``):
helpers here read them; writes go through ``store.create`` / ``store.mutate`` from a queue flush,
never from inside a store listener.
"""

from __future__ import annotations

import copy
import logging
import random
from typing import Any, Callable, Hashable, Iterable

from ..clock import to_rfc3339
from ..store import GR

Obj = dict[str, Any]
log = logging.getLogger("ambient_lb.sim.controllers")

NAMESPACES = GR("", "namespaces")
NODES = GR("", "nodes")
PODS = GR("", "pods")
SERVICES = GR("", "services")
ENDPOINTS = GR("", "endpoints")
SERVICE_ACCOUNTS = GR("", "serviceaccounts")
CONFIG_MAPS = GR("", "configmaps")
SECRETS = GR("", "secrets")
EVENTS = GR("", "events")
DEPLOYMENTS = GR("apps", "deployments")
REPLICA_SETS = GR("apps", "replicasets")
REPLICATION_CONTROLLERS = GR("", "replicationcontrollers")
DAEMON_SETS = GR("apps", "daemonsets")
ENDPOINT_SLICES = GR("discovery.k8s.io", "endpointslices")
CRDS = GR("apiextensions.k8s.io", "customresourcedefinitions")
GATEWAY_CLASSES = GR("gateway.networking.k8s.io", "gatewayclasses")

# the Istio release the bootstrap installs (the waypoint model in sim/mesh uses the same one)
ISTIO_VERSION = "1.28.0"

# the alphabet Kubernetes uses for generated name suffixes and pod-template-hash (k8s.io/apimachinery rand)
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def meta(o: Obj | None) -> Obj:
    return (o or {}).get("metadata") or {}


def labels(o: Obj | None) -> dict[str, str]:
    return meta(o).get("labels") or {}


def annotations(o: Obj | None) -> dict[str, str]:
    return meta(o).get("annotations") or {}


def uid(o: Obj | None) -> str:
    return meta(o).get("uid", "")


def deleting(o: Obj | None) -> bool:
    return bool(meta(o).get("deletionTimestamp"))


def namespace_open(cluster: Any, namespace: str) -> bool:
    """Whether objects may be created in ``namespace`` (it exists and is not being deleted)."""
    ns = cluster.store.get(NAMESPACES, None, namespace)
    return ns is not None and not deleting(ns)


def condition(o: Obj | None, kind: str) -> Obj | None:
    for c in ((o or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


def is_true(o: Obj | None, kind: str) -> bool:
    c = condition(o, kind)
    return bool(c and c.get("status") == "True")


def set_condition(status: Obj, cond: Obj, now: float, *, stamp_update: bool = False, touch: bool = False) -> None:
    """Put ``cond`` into ``status.conditions``; keep lastTransitionTime if the status did not change.
    With ``stamp_update`` also keep ``lastUpdateTime`` unless status or reason changed (or ``touch``)."""
    conds = status.setdefault("conditions", [])
    ts = to_rfc3339(now)
    for i, c in enumerate(conds):
        if c.get("type") == cond["type"]:
            new = dict(cond)
            same = c.get("status") == cond.get("status")
            new["lastTransitionTime"] = c.get("lastTransitionTime", ts) if same else ts
            if stamp_update:
                unchanged = same and c.get("reason") == cond.get("reason") and not touch
                new["lastUpdateTime"] = c.get("lastUpdateTime", ts) if unchanged else ts
            conds[i] = {k: v for k, v in sorted(new.items())}
            return
    new = dict(cond, lastTransitionTime=ts)
    if stamp_update:
        new["lastUpdateTime"] = ts
    conds.append({k: v for k, v in sorted(new.items())})


# ---- label selectors (metav1.LabelSelector) -------------------------------------------------------
_OPS: dict[str, Callable[[dict[str, str], str, list[str]], bool]] = {
    "In": lambda lb, k, vs: k in lb and lb[k] in vs,
    "NotIn": lambda lb, k, vs: k not in lb or lb[k] not in vs,
    "Exists": lambda lb, k, vs: k in lb,
    "DoesNotExist": lambda lb, k, vs: k not in lb,
    "Gt": lambda lb, k, vs: k in lb and lb[k].isdigit() and int(lb[k]) > int(vs[0]),
    "Lt": lambda lb, k, vs: k in lb and lb[k].isdigit() and int(lb[k]) < int(vs[0]),
}


def match_expressions(exprs: Iterable[Obj], lbls: dict[str, str]) -> bool:
    return all(_OPS.get(e.get("operator", ""), lambda *_: False)(lbls, e.get("key", ""), e.get("values") or [])
               for e in exprs)


def selector_matches(selector: Obj | None, lbls: dict[str, str], *, empty_matches: bool = False) -> bool:
    """A ``LabelSelector`` (matchLabels + matchExpressions) against labels; an empty one matches
    nothing unless ``empty_matches`` (Deployments: everything; Services: nothing)."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return empty_matches
    ml = selector.get("matchLabels") or {}
    return all(lbls.get(k) == v for k, v in ml.items()) and match_expressions(
        selector.get("matchExpressions") or [], lbls)


def map_selector_matches(selector: dict[str, str] | None, lbls: dict[str, str]) -> bool:
    """A Service's plain ``spec.selector`` map; empty or missing selects nothing."""
    return bool(selector) and all(lbls.get(k) == v for k, v in selector.items())


def selector_string(selector: Obj | None) -> str:
    """``app=web,tier in (a,b)``: the form ``status.selector`` of a Scale carries."""
    parts = [f"{k}={v}" for k, v in sorted(((selector or {}).get("matchLabels") or {}).items())]
    for e in (selector or {}).get("matchExpressions") or []:
        op, vals = e.get("operator"), ",".join(e.get("values") or [])
        parts.append({"In": f"{e['key']} in ({vals})", "NotIn": f"{e['key']} notin ({vals})",
                      "Exists": e["key"], "DoesNotExist": f"!{e['key']}"}.get(op, e["key"]))
    return ",".join(parts)


# ---- owner references ----------------------------------------------------------------------------
def owner_ref(owner: Obj, api_version: str, kind: str, *, controller: bool = True) -> Obj:
    return {"apiVersion": api_version, "blockOwnerDeletion": True, "controller": controller,
            "kind": kind, "name": meta(owner)["name"], "uid": meta(owner)["uid"]}


def controller_uid(o: Obj) -> str | None:
    for ref in meta(o).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def owned_by(o: Obj, owner: Obj) -> bool:
    return controller_uid(o) == uid(owner)


def controller_of(o: Obj, kind: str) -> str | None:
    """Name of the controlling owner of ``kind``, if any."""
    for ref in meta(o).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            return ref.get("name")
    return None


# ---- names -----------------------------------------------------------------------------------------
def random_suffix(rng: Any, n: int = 5) -> str:
    return "".join(rng.choice(ALPHANUMS) for _ in range(n))


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """k8s.io/apimachinery ``rand.SafeEncodeString``: each byte mapped onto ``ALPHANUMS``."""
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in text)


def template_hash(template: Obj, collisions: int = 0) -> str:
    """A pod-template-hash shaped like the real one (FNV-32a of the template, safe-encoded: up to
    10 characters such as ``7d8f9b6c54``); deterministic for the same template."""
    import json
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collisions:
        data += str(collisions).encode()
    return safe_encode(str(fnv32a(data)))


def edit_status(store: Any, gr: Any, namespace: str | None, name: str, fn: Callable[[Obj], Any],
                *, spec: bool = False) -> Obj | None:
    """``store.mutate`` for controllers that change only ``status`` (and, with ``spec=True``,
    top-level ``spec`` fields such as ``nodeName``): copies just those parts, not the whole object,
    which keeps a pod's many status updates cheap. ``fn`` must not touch anything else."""
    cur = store.get(gr, namespace, name)
    if cur is None:
        return None
    new = dict(cur)
    new["metadata"] = dict(cur["metadata"])
    new["status"] = copy.deepcopy(cur.get("status") or {})
    if spec:
        new["spec"] = dict(cur.get("spec") or {})
    fn(new)
    if new == cur:
        return cur
    return store.update(gr, new)


def deep(o: Obj) -> Obj:
    return copy.deepcopy(o)


def now_str(clock: Any) -> str:
    return to_rfc3339(clock.now())


# ---- the work queue ------------------------------------------------------------------------------
class WorkQueue:
    """Keys to reconcile, coalesced: many store events for one key cause one reconcile "soon".

    ``add`` may be called from a store listener: it only schedules (``clock.call_later(0, …)``).
    ``add_after`` schedules one key later (a requeue), e.g. when a pod becomes available.
    """

    def __init__(self, clock: Any, reconcile: Callable[[Any], None]) -> None:
        self.clock = clock
        self.reconcile = reconcile
        self._pending: dict[Hashable, None] = {}
        self._scheduled = False

    def add(self, key: Hashable) -> None:
        self._pending[key] = None
        if not self._scheduled:
            self._scheduled = True
            self.clock.call_later(0, self._flush)

    def add_after(self, delay: float, key: Hashable) -> None:
        self.clock.call_later(delay, self.add, key)

    def _flush(self) -> None:
        self._scheduled = False
        keys, self._pending = list(self._pending), {}
        for key in keys:
            guarded(self.reconcile, key)


class QueuedController:
    """A controller that reconciles keys from a ``WorkQueue`` fed by its ``_on_event`` store listener,
    drawing names from its own RNG seeded from the cluster's (so names are reproducible per seed).

    Subclasses define ``name``, ``_on_event(ev)`` (which only calls ``self.queue.add``) and
    ``_reconcile(key)``.
    """

    name = ""

    def start(self, cluster: Any) -> None:
        self.cluster = cluster
        self.rng = self._make_rng(cluster)
        self.queue = WorkQueue(cluster.clock, self._reconcile)
        cluster.store.subscribe(self._on_event)

    def _make_rng(self, cluster: Any) -> random.Random:
        return random.Random(cluster.rng.getrandbits(64))

    def _on_event(self, ev: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reconcile(self, key: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def named_rng(cluster: Any, name: str) -> random.Random:
    """An RNG seeded from the cluster's seed and a controller's name, drawing nothing from
    ``cluster.rng``: controllers added later use it, so the names and IPs every earlier controller
    draws for a given ``--seed`` stay what they were."""
    return random.Random(f"{cluster.seed}:{name}")


def guarded(fn: Callable[..., Any], *args: Any) -> None:
    """Run one reconcile step; a bad object in the store is logged and skipped, so it cannot stop
    the controller (or the others sharing the event loop)."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - the simulator must keep running; the log has the traceback
        log.exception("controller step %s%r failed; skipping it", getattr(fn, "__qualname__", fn), args)
