"""The simulator's kubeconfig: where ``ambient-lb sim up`` writes it unless told otherwise, the contexts
it names, and how it is written (0600, JSON, which kubectl and the client read as YAML).

Who calls it: ``daemon`` (``sim up``), ``in_process`` (the in-thread simulator's kubeconfig), ``cli``
(``sim up | down | status``) and ``__main__`` (the context names it reports); the runbook reads
``CONTEXT`` and ``DEFAULT_KUBECONFIG`` through its seam ``ambient_lb.simulator`` for its params'
defaults, so the two never drift. Importing it is cheap (standard library only; YAML on use).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

CONTEXT = "ambient-lb-sim"
DEFAULT_KUBECONFIG = Path("~/.ambient-lb/sim/kubeconfig")


def topology_kubeconfig(name: str) -> Path:
    """Where ``sim up --topology <name>`` writes its kubeconfig when that topology has several clusters:
    a sibling of the default's directory (``~/.ambient-lb/sim-two-clusters/kubeconfig``), so it runs beside
    the main simulator and ``sim down --topology <name>`` finds it."""
    home = DEFAULT_KUBECONFIG.parent
    return home.with_name(f"{home.name}-{name}") / "kubeconfig"


def context_name(cluster: str, index: int) -> str:
    """The kubeconfig context of the ``index``-th simulated cluster: ``ambient-lb-sim`` for the first,
    ``ambient-lb-sim-<cluster name>`` for the others (a multi-cluster topology)."""
    return CONTEXT if index == 0 else f"{CONTEXT}-{cluster}"


def kubeconfig_text(url: str, token: str | None, ca_pem: bytes | None = None, namespace: str = "default",
                    others: dict[str, str] | None = None) -> str:
    """The kubeconfig: context ``ambient-lb-sim`` (current) at ``url``, plus one context per entry of
    ``others`` (context name → url; the other clusters of a multi-cluster topology, same token and CA)."""
    urls = {CONTEXT: url, **(others or {})}
    clusters = []
    for name, u in urls.items():
        cluster: dict[str, Any] = {"server": u}
        if ca_pem:
            cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
        clusters.append({"name": name, "cluster": cluster})
    cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": clusters,
           "users": [{"name": CONTEXT, "user": {"token": token} if token else {}}],
           "contexts": [{"name": name, "context": {"cluster": name, "user": CONTEXT, "namespace": namespace}}
                        for name in urls],
           "current-context": CONTEXT}
    return json.dumps(cfg, indent=2) + "\n"  # JSON is YAML; kubectl and the client read both


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (created that way, never world-readable); a directory it
    creates for it is 0700."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def is_ours(kubeconfig: Path) -> bool:
    """True when ``kubeconfig`` is absent or a kubeconfig this module wrote (only our context)."""
    import yaml

    from .. import yaml_limits

    if not kubeconfig.exists():
        return True
    try:
        cfg = yaml_limits.load(kubeconfig.read_text(), max_bytes=64 * 2**20) or {}
    except (OSError, yaml.YAMLError, yaml_limits.Refused):
        return False
    names = [c.get("name") for c in (cfg.get("contexts") or []) if isinstance(c, dict)] if isinstance(cfg, dict) else []
    return bool(names) and names[0] == CONTEXT and all(str(n).startswith(f"{CONTEXT}-") for n in names[1:])


def home_relative(path: Any) -> str:
    """``~/.ambient-lb/sim/kubeconfig`` rather than the home directory spelled out: what a person
    types on any machine (the runbook shows this output)."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if home != "/" and text.startswith(home + "/") else text
