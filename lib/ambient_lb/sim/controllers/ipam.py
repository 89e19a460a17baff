"""Pod IPs from each node's pod CIDR (``spec.podCIDR``, e.g. 10.244.1.0/24), host-local style:
addresses go out in order after the last one handed out, skipping those in use, so a replacement
pod gets a new IP rather than the one just released.

Who calls it: ``kubelet.py`` when a pod's sandbox starts (``allocate``) and when the Pod object is
removed (``release``).
"""

from __future__ import annotations

import ipaddress


class PodIPAM:
    """Hands out pod IPs from each node's pod CIDR, host-local style."""

    def __init__(self) -> None:
        self._used: dict[str, set[str]] = {}
        self._last: dict[str, int] = {}

    def allocate(self, node: str, cidr: str) -> str:
        """The next free address of the node's CIDR after the last one handed out (from .2 on)."""
        net = ipaddress.IPv4Network(cidr, strict=False)
        used = self._used.setdefault(node, set())
        hosts = net.num_addresses - 3  # network, gateway (.1), broadcast
        start = self._last.get(node, 0)
        for step in range(1, hosts + 1):
            idx = (start + step - 1) % hosts + 1  # 1..hosts -> .2 .. .254
            ip = str(net.network_address + 1 + idx)
            if ip not in used:
                used.add(ip)
                self._last[node] = idx
                return ip
        raise RuntimeError(f"node {node}: pod CIDR {cidr} is full ({hosts} pods)")

    def release(self, node: str, ip: str) -> None:
        """Returns a pod's IP to its node's pool."""
        self._used.get(node, set()).discard(ip)
