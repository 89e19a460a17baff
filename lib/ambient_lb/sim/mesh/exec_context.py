"""Where a program run by ``kubectl exec`` in a proxy image runs (R13.8).

Who calls it: ``images.exec_handler`` makes one per exec and hands it to the modelled program
(``pilot_agent``, ``wget``), which reaches the pod's network namespace through it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cluster import Cluster


@dataclass(frozen=True)
class ExecContext:
    """Where a program runs: the pod (its network namespace) and the simulated cluster."""

    cluster: Cluster
    namespace: str
    pod: str
