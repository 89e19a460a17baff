"""How a Solo global service is named and referred to (R9.1). `[solo]`

Who calls it: ``kgateway`` asks ``is_hostname_ref`` of an HTTPRoute backendRef and names the scope
label in its ``ResolvedRefs`` message; ``multicluster`` finds a global service's members by the
scope label and its ``<name>.<ns>.mesh.internal`` hostname, and gives it its VIP.
"""

from __future__ import annotations

import zlib
from typing import Any

SCOPE_LABEL = "solo.io/service-scope"
GLOBAL = "global"
SUFFIX = ".mesh.internal"
HOSTNAME_GROUP = "networking.istio.io"


def is_hostname_ref(ref: dict[str, Any]) -> bool:
    """An HTTPRoute backendRef of kind ``Hostname`` in group ``networking.istio.io``."""
    return ref.get("kind") == "Hostname" and ref.get("group") == HOSTNAME_GROUP


def split_host(host: str) -> tuple[str, str] | None:
    """``<name>.<ns>.mesh.internal`` → (namespace, name), else None (R9.1)."""
    if not host.endswith(SUFFIX):
        return None
    parts = host[: -len(SUFFIX)].split(".")
    return (parts[1], parts[0]) if len(parts) == 2 and all(parts) else None


def global_vip(host: str) -> str:
    """[model] A stable VIP for a global hostname, in 240.240.0.0/16."""
    n = zlib.crc32(host.encode()) % (254 * 254)
    return f"240.240.{n // 254}.{1 + n % 254}"
