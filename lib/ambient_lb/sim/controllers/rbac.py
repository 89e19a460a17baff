"""RBAC's controllers: the default roles a cluster starts with, and ClusterRole aggregation (R16.13).

Who calls it: started by ``all_controllers``. ``RbacDefaults`` creates ``sim/data/rbac-defaults.yaml``
(``cluster-admin`` bound to ``system:masters``; the aggregated ``admin``, ``edit``, ``view``) from a
``cluster.on_start`` hook, after the bootstrap, with uids drawn from its own RNG so nothing seeded
before it changes. ``ClusterRoleAggregation`` does what kube-controller-manager's clusterrole
aggregation controller does: a ClusterRole with ``aggregationRule`` gets, as its ``rules``, the rules
of every other ClusterRole its ``clusterRoleSelectors`` select (in name order, each rule once); it
runs again whenever a ClusterRole changes, so ``view`` feeds ``edit`` and ``edit`` feeds ``admin``.
The API server's authorization reads the result (``server/rbac.py``).
"""

from __future__ import annotations

import uuid
from typing import Any

from .. import selectors
from ..protocols import SimCluster
from ..store import GR, StoreError
from .admission import admit
from .bootstrap import data_documents
from .names import named_rng
from .objects import Obj, meta
from .queue import WorkQueue, guarded

CLUSTER_ROLES = GR("rbac.authorization.k8s.io", "clusterroles")
CLUSTER_ROLE_BINDINGS = GR("rbac.authorization.k8s.io", "clusterrolebindings")
_GRS = {"ClusterRole": CLUSTER_ROLES, "ClusterRoleBinding": CLUSTER_ROLE_BINDINGS}


class RbacDefaults:
    """Creates the default roles and bindings a cluster starts with, once the server starts."""

    name = "rbac-defaults"

    def start(self, cluster: SimCluster) -> None:
        """Seeds the default roles and bindings from an on_start hook."""
        self.cluster = cluster
        self.rng = named_rng(cluster, self.name)

        async def on_start() -> None:
            guarded(self.seed)
        cluster.on_start.append(on_start)

    def seed(self) -> None:
        """Creates each object of ``rbac-defaults.yaml`` that is not in the store yet."""
        store = self.cluster.store
        for obj in data_documents("rbac-defaults.yaml"):
            gr = _GRS[obj["kind"]]
            if store.get(gr, None, meta(obj)["name"]) is not None:
                continue
            obj["metadata"]["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            try:
                store.create(gr, admit(self.cluster, "CREATE", gr, obj))
            except StoreError:
                pass  # created meanwhile


def aggregated_rules(role: Obj, roles: list[Obj]) -> list[Obj]:
    """The rules an aggregating ClusterRole gets from the ClusterRoles its selectors select (R16.13);
    ``{}`` selects every ClusterRole, a selector that does not convert none (R18.3)."""
    role_selectors = ((role.get("aggregationRule") or {}).get("clusterRoleSelectors")) or []
    out: list[Obj] = []
    for other in sorted(roles, key=lambda r: meta(r)["name"]):
        if meta(other)["name"] == meta(role)["name"]:
            continue
        if any(selectors.matches(s, meta(other).get("labels") or {}) for s in role_selectors):
            out += [rule for rule in other.get("rules") or [] if rule not in out]
    return out


class ClusterRoleAggregation:
    """The ClusterRole aggregation controller: an aggregated ClusterRole's rules are those of the roles it selects."""

    name = "clusterrole-aggregation-controller"

    def start(self, cluster: SimCluster) -> None:
        """Reconciles every aggregated ClusterRole (from the work queue) whenever a ClusterRole changes."""
        self.cluster = cluster
        self.queue = WorkQueue(cluster.clock, self._reconcile)
        cluster.store.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.gr == CLUSTER_ROLES:
            self.queue.add("all")

    def _reconcile(self, _: str) -> None:
        roles = self.cluster.store.list(CLUSTER_ROLES)
        for role in roles:
            if role.get("aggregationRule") is None:
                continue
            rules = aggregated_rules(role, roles)
            if rules != (role.get("rules") or []):
                def set_rules(o: Obj, rules: list[Obj] = rules) -> None:
                    o["rules"] = rules
                self.cluster.store.mutate(CLUSTER_ROLES, None, meta(role)["name"], set_rules)
