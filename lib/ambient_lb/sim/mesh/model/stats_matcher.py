"""Which Envoy stats a proxy keeps: Envoy's inclusion-list matcher and Istio's default list (R13.3–R13.5).

Who calls it: the simulator's Envoy admin (``sim/mesh/admin.py``) builds one ``StatsMatcher`` per
proxy when the proxy starts and filters ``/stats`` with ``includes``; ``sim/mesh/proxy_config.py``
turns a waypoint pod's ProxyConfig and annotations into the ``user`` lists of
``istio_stats_matcher``. kgateway's proxy has no ``stats_matcher`` by default, so it keeps every stat
(``KEEP_ALL``, R13.2).

A pattern matches the whole stat name (R13.4): prefix = starts with, suffix = ends with, regex =
full match (Envoy uses RE2; Python's ``re`` agrees on the patterns these proxies use).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: R13.3 Istio's bootstrap: the patterns every Istio proxy's inclusion list ends its groups with.
ISTIO_REQUIRED: dict[str, tuple[str, ...]] = {
    "prefixes": ("cluster_manager", "listener_manager", "server", "cluster.xds-grpc", "wasm"),
    "suffixes": ("rbac.allowed", "rbac.denied", "shadow_allowed", "shadow_denied"),
    "regexps": (r"vhost\.*\.route\.*",),
}
#: R13.3: before the user prefixes (``workload_discovery`` only with metadata discovery) and last.
ISTIO_LEADING_PREFIXES = ("reporter=",)
ISTIO_METADATA_DISCOVERY_PREFIXES = ("workload_discovery",)
ISTIO_TRAILING_PREFIXES = ("component", "istio")
KINDS = ("prefixes", "suffixes", "regexps")


@dataclass(frozen=True)
class StatsMatcher:
    """An Envoy ``stats_matcher``: an inclusion list, or nothing (``keep_all``: every stat exists)."""

    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    regexps: tuple[str, ...] = ()
    keep_all: bool = False
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = []
        for rx in self.regexps:
            try:
                compiled.append(re.compile(rx))
            except re.error:
                continue  # see ``invalid_regexps``: the caller reports it
        object.__setattr__(self, "_compiled", tuple(compiled))

    def includes(self, name: str) -> bool:
        """R13.4: is the stat ``name`` created (and so listed by ``/stats``)?"""
        if self.keep_all:
            return True
        return (name.startswith(self.prefixes) or name.endswith(self.suffixes)
                or any(rx.fullmatch(name) for rx in self._compiled))

    def invalid_regexps(self) -> list[str]:
        """The regexps that do not compile (a real pilot-agent would hand Envoy a bootstrap it rejects)."""
        bad = []
        for rx in self.regexps:
            try:
                re.compile(rx)
            except re.error:
                bad.append(rx)
        return bad

    def patterns(self) -> list[dict[str, object]]:
        """The ``inclusion_list.patterns`` as the bootstrap spells them (for explanations)."""
        prefixes: list[dict[str, object]] = [{"prefix": p} for p in self.prefixes]
        suffixes: list[dict[str, object]] = [{"suffix": s} for s in self.suffixes]
        regexps: list[dict[str, object]] = [{"safe_regex": {"regex": r}} for r in self.regexps]
        return prefixes + suffixes + regexps


#: R13.2: kgateway's proxy bootstrap has no ``stats_config`` unless its GatewayParameters set one.
KEEP_ALL = StatsMatcher(keep_all=True)


def istio_stats_matcher(user: Mapping[str, Sequence[str]] | None = None, *,
                        metadata_discovery: bool = True) -> StatsMatcher:
    """R13.3: Istio's inclusion list with the proxy's own ``user`` lists (keys ``prefixes``,
    ``suffixes``, ``regexps``) put before the required patterns. A waypoint always has metadata
    discovery on."""
    user = user or {}
    lead = ISTIO_LEADING_PREFIXES + (ISTIO_METADATA_DISCOVERY_PREFIXES if metadata_discovery else ())
    prefixes = lead + tuple(user.get("prefixes", ())) + ISTIO_REQUIRED["prefixes"] + ISTIO_TRAILING_PREFIXES
    return StatsMatcher(prefixes=prefixes,
                        suffixes=tuple(user.get("suffixes", ())) + ISTIO_REQUIRED["suffixes"],
                        regexps=tuple(user.get("regexps", ())) + ISTIO_REQUIRED["regexps"])
