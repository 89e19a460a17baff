"""Cell formatting shared by the printers: label maps, selectors, container lists, endpoint lists.

Who calls it: ``builtin.py``. Each helper reproduces one formatting function of the kube-apiserver
printers (``labels.FormatLabels``, ``LabelSelectorAsSelector(...).String()``,
``layoutContainerCells``, ``listWithMoreString``), so cells read exactly as kubectl shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import selectors

MORE_AFTER = 3  # list cells show three entries, then "+ N more..."


def format_labels(labels: dict[str, Any] | None) -> str:
    """``a=1,b=2`` sorted by key; ``<none>`` for no labels."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_selector(selector: dict[str, Any] | None) -> str:
    """A LabelSelector as ``app=web,tier in (a,b),!canary``; empty or missing is ``""`` (R18.5)."""
    return selectors.to_string(selector)


def containers_and_images(pod_spec: dict[str, Any] | None) -> tuple[str, str]:
    """``layoutContainerCells``: container names and images, comma-joined."""
    containers = (pod_spec or {}).get("containers") or []
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def list_with_more(items: Iterable[str], empty: str = "<unset>") -> str:
    """The first three entries, then ``+ N more...``; ``empty`` when there are none."""
    items = list(items)
    text = ",".join(items[:MORE_AFTER])
    if len(items) > MORE_AFTER:
        return f"{text} + {len(items) - MORE_AFTER} more..."
    return text or empty


def join_host_port(host: str, port: Any) -> str:
    """host:port, with the host in brackets when it is an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
