"""Ages as Kubernetes prints them: ``45s``, ``2m30s``, ``5h``, ``3d``, ``2y10d``.

Who calls it: the Table printers (AGE, LAST SEEN, RESTARTS "(5m ago)", CRD ``date`` columns), and
the mesh and notebooks when they show an age. The thresholds are apimachinery's
``duration.HumanDuration``; seconds are truncated toward zero as Go's ``int(d.Seconds())`` does.
"""

from __future__ import annotations

from ..clock import parse_rfc3339

MINUTE, HOUR, DAY, YEAR = 60, 3600, 86400, 365 * 86400


def human_duration(seconds: float) -> str:
    """``HumanDuration``: precise while short, coarser as it grows; ``<invalid>`` below -1 s."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 2 * MINUTE:
        return f"{s}s"
    minutes = s // MINUTE
    if minutes < 10:
        rest = s % MINUTE
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 3 * 60:
        return f"{minutes}m"
    return _hours_and_more(s // HOUR, minutes)


def _hours_and_more(hours: int, minutes: int) -> str:
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: float) -> str:
    """``translateTimestampSince``: the age of an RFC3339 timestamp, ``<unknown>`` when unset."""
    if not timestamp:
        return "<unknown>"
    try:
        return human_duration(now - parse_rfc3339(timestamp))
    except ValueError:
        return "<invalid>"
