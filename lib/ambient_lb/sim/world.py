"""Assemble a ready-to-serve simulated cluster: the control plane, then the ambient data plane.

``build_cluster`` is what ``ambient-lb sim up`` and the tests' context manager call. The control
plane controllers come from ``sim.controllers.all_controllers`` and the mesh from
``sim.mesh.all_controllers``; each list is in start order. ``strict`` sets ``cluster.strict`` before
any controller starts (fault annotations are ignored); what the simulator is (speed, seed, strict,
topology) is kept in ``cluster.extensions["simulator"]``, which the bootstrap publishes as the
ConfigMap ``kube-public/ambient-lb-simulator``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .clock import Clock
from .cluster import Cluster


def _controllers(module: str, cluster: Cluster) -> list[Any]:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:  # a layer not built yet: serve what exists
        if exc.name == module:
            return []
        raise
    return list(mod.all_controllers(cluster))


def build_cluster(*, seed: int = 0, speed: float = 1.0, topology: Any = None,
                  clock: Clock | None = None, mesh: bool = True, name: str = "ambient-lb-sim",
                  strict: bool = False, topology_name: str | None = None) -> Cluster:
    """A cluster with its controllers (and, with mesh, the ambient mesh and data plane), ready to serve."""
    cluster = Cluster(name=name, seed=seed, speed=speed, clock=clock, topology=topology)
    cluster.strict = strict
    cluster.extensions["simulator"] = {"speed": getattr(cluster.clock, "speed", speed), "seed": seed,
                                       "strict": strict, "topology": topology_name or "default"}
    layers = ["ambient_lb.sim.controllers"] + (["ambient_lb.sim.mesh"] if mesh else [])
    for module in layers:
        for c in _controllers(module, cluster):
            cluster.add_controller(c)
    return cluster
