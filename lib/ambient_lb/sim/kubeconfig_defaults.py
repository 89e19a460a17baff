"""Where ``ambient-lb sim up`` writes its kubeconfig unless told otherwise, and the context it names.

Who calls it: ``process`` (``sim up``, ``kubeconfig_text``); the runbook reads both through its seam
``ambient_lb.simulator`` for its params' defaults, so the two never drift. Nothing else lives here,
so importing it costs nothing.
"""

from __future__ import annotations

from pathlib import Path

CONTEXT = "ambient-lb-sim"
DEFAULT_KUBECONFIG = Path("~/.ambient-lb/sim/kubeconfig")
