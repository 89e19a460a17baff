"""The simulator's request-level fault annotations, parsed (tests and drills only; strict mode
ignores them, see ``controllers/faults.py``).

| annotation | value | effect |
| --- | --- | --- |
| ``fault.ambient-lb.dev/http-status`` | ``503`` or a cycle ``500,500,500,500,200`` | the pod answers the requests it receives with these statuses in turn (a 200 entry means "the app answers") |
| ``fault.ambient-lb.dev/refuse-connections`` | ``"true"`` | nothing in the pod accepts connections (the destination ztunnel gets ECONNREFUSED, R7.1) |
| ``fault.ambient-lb.dev/latency`` | ``200ms``, ``1.5s`` | the pod waits that long (simulated time) before answering |
| ``fault.ambient-lb.dev/ready`` | ``"false"`` | handled by the kubelet: the pod stays not Ready |

Who calls it: ``runtime`` (which applies them on top of whatever app the pod runs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...controllers.faults import HTTP_STATUS as STATUS_FAULT
from ...controllers.faults import LATENCY as LATENCY_FAULT
from ...controllers.faults import REFUSE_CONNECTIONS as REFUSE_FAULT

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")


class FaultError(ValueError):
    """A fault annotation's value cannot be used; the message names it and gives an example."""


def parse_status_cycle(value: str) -> list[int]:
    """``"500,500,200"`` → [500, 500, 200]; raises FaultError naming the annotation."""
    try:
        codes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        codes = []
    if not codes or any(not 100 <= c <= 599 for c in codes):
        raise FaultError(f"{STATUS_FAULT}={value!r} is not a status or a comma-separated cycle of statuses; "
                         "for example \"503\" or \"500,500,500,500,200\"")
    return codes


def parse_latency(value: str) -> float:
    """``"200ms"`` → 0.2 simulated seconds; raises FaultError naming the annotation."""
    m = _DURATION.match(value or "")
    if not m:
        raise FaultError(f"{LATENCY_FAULT}={value!r} is not a duration; for example \"200ms\" or \"1.5s\"")
    n = float(m.group(1))
    return n / 1000.0 if m.group(2) == "ms" else n


@dataclass
class PodFaults:
    """The parsed faults of one pod and its position in the status cycle."""

    source: tuple[str, str, str] = ("", "", "")
    cycle: list[int] = field(default_factory=list)
    position: int = 0
    refuse: bool = False
    latency: float = 0.0
    problems: list[str] = field(default_factory=list)

    @staticmethod
    def source_of(annotations: Mapping[str, str]) -> tuple[str, str, str]:
        """The fault annotations' raw values: (http-status, refuse-connections, latency)."""
        return (annotations.get(STATUS_FAULT, ""), annotations.get(REFUSE_FAULT, ""),
                annotations.get(LATENCY_FAULT, ""))

    @classmethod
    def parse(cls, annotations: Mapping[str, str]) -> PodFaults:
        """The pod's faults from its annotations; a malformed value is kept as a problem, not raised."""
        src = cls.source_of(annotations)
        f = cls(source=src, refuse=src[1].strip().lower() == "true")
        if src[0]:
            try:
                f.cycle = parse_status_cycle(src[0])
            except FaultError as exc:
                f.problems.append(str(exc))
        if src[2]:
            try:
                f.latency = parse_latency(src[2])
            except FaultError as exc:
                f.problems.append(str(exc))
        return f

    def next_status(self) -> int | None:
        """The status the cycle imposes on this request (None: answer normally)."""
        if not self.cycle:
            return None
        code = self.cycle[self.position % len(self.cycle)]
        self.position += 1
        return None if code == 200 else code
