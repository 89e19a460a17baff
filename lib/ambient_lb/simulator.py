"""The one door from the runbook into the simulator's code (``ambient_lb.sim``).

The runbook drives the simulator as it drives a cluster: ``ambient-lb sim up`` as a person types it,
then kubectl, the ``kubernetes`` client and the API through a kubeconfig. The few things it needs of
the simulator's code come through this module and nowhere else; import-linter holds every other
runbook module to that (the contract "The runbook reaches the simulator only through
ambient_lb.simulator" in pyproject.toml). What goes through:

| name | what | used by |
| --- | --- | --- |
| ``DEFAULT_KUBECONFIG``, ``CONTEXT`` | where ``ambient-lb sim up`` writes its kubeconfig unless told otherwise, and the context it names | ``params`` (the ``sim`` defaults), ``guide.run`` |
| ``topology_kubeconfig`` | where ``ambient-lb sim up --topology <multi-cluster name>`` writes its kubeconfig unless told otherwise | ``guide.two_clusters`` |
| ``render_chart`` | the helm stand-in: the manifests the enterprise-kgateway charts would install | ``helm`` (``Helm(standin=True)``) |
| ``builtin_topologies`` | the topologies the simulator ships (``three-zones``, ``two-clusters``, …) | ``params`` (checks ``sim.topology``) |
| ``CLI_MODULE`` | the module behind ``ambient-lb sim up | down | status`` | ``cli`` |

Importing this module is cheap: the chart stand-in and the topologies load the simulator's cluster
model and pydantic (about 100 ms each), so they are imported on first use, not when a notebook starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .sim.kubeconfig import CONTEXT, DEFAULT_KUBECONFIG, topology_kubeconfig

#: ``ambient-lb sim`` is the simulator's own command; ``cli`` imports this module by name to run it.
CLI_MODULE = "ambient_lb.sim.cli"

__all__ = ["CLI_MODULE", "CONTEXT", "DEFAULT_KUBECONFIG", "builtin_topologies", "render_chart", "topology_kubeconfig"]


def render_chart(release: str, chart: str, version: str, namespace: str,
                 values: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifests ``helm upgrade -i <release> <chart> --version <version> -n <namespace>`` would apply.

    ``ParameterError`` for a chart the simulator does not stand in for, or a malformed values entry.
    """
    from .sim.mesh import charts  # loads the simulator's cluster model: only the stand-in pays for it

    return charts.render(release, chart, version, namespace, values)


def builtin_topologies() -> dict[str, Path]:
    """The topologies the simulator ships, by name (``three-zones``, ``two-clusters``, …)."""
    from .sim.topology import builtin_topologies as shipped  # pydantic models: built on first use

    return shipped()
