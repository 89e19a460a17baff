"""Cron schedules as a CronJob reads them: robfig/cron's standard parser, and the next run time (R16.26).

Who calls it: ``batch_rules.py`` (``spec.schedule`` validation, with robfig's error texts) and the
CronJob controller (``controllers/cronjobs.py``) for the times to run at, on the simulated clock.

    Schedule.parse("*/5 * * * *", "UTC").next_after(t) -> the next minute after ``t`` it fires

Syntax (``cron.ParseStandard``): five fields, minute (0-59), hour (0-23), day of month (1-31), month
(1-12 or JAN-DEC), day of week (0-6 or SUN-SAT); each a list of ``*``, ``?``, ``a``, ``a-b`` with an
optional ``/step`` (``a/step`` runs from ``a`` to the maximum); or a descriptor: ``@yearly``
(``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``), ``@hourly``. When both the
day of month and the day of week are restricted (neither starts with ``*`` or ``?``), a day matches
either; otherwise it must match both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
# (minimum, maximum, names) per field
BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = ((0, 59, {}), (0, 23, {}), (1, 31, {}),
          (1, 12, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}),
          (0, 6, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}))


class CronError(ValueError):
    """An unparseable schedule; the text is robfig/cron's error."""


def _int(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.lstrip("-").isdigit():
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _range(expr: str, lo: int, hi: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """One comma-separated part: (values, whether it is a plain star)."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    star = low_and_high[0] in ("*", "?")
    if star:
        start, end = lo, hi
    else:
        start = _int(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int(low_and_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _int(range_and_step[1], {})
        if step <= 0:
            raise CronError(f"step of range should be a positive number: {expr}")
        if len(low_and_high) == 1 and not star:
            end = hi  # "N/step" means "N-max/step"
        star = star and step == 1
    elif len(range_and_step) > 2:
        raise CronError(f"too many slashes: {expr}")
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, bounds: tuple[int, int, dict[str, int]]) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        vals, is_star = _range(part, *bounds)
        values |= vals
        star = star or is_star
    return frozenset(values), star


@dataclass(frozen=True)
class Schedule:
    """A parsed cron schedule: the minutes, hours, days, months and weekdays it fires on, in a time zone."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # the day of month or the day of week is a star: both must match
    tz: dt.tzinfo

    @classmethod
    def parse(cls, spec: str, tz_name: str | None = None) -> Schedule:
        """Parses a five-field cron spec or an ``@`` descriptor; CronError names what is wrong."""
        text = spec.strip()
        if text.startswith("@"):
            if text not in DESCRIPTORS:
                raise CronError(f"unrecognized descriptor: {text}")
            text = DESCRIPTORS[text]
        fields = text.split()
        if len(fields) != 5:
            raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
        parsed = [_field(f, b) for f, b in zip(fields, BOUNDS, strict=True)]
        return cls(parsed[0][0], parsed[1][0], parsed[2][0], parsed[3][0], parsed[4][0],
                   parsed[2][1] or parsed[4][1], zone(tz_name))

    def _day_matches(self, d: dt.datetime) -> bool:
        dom, dow = d.day in self.days, (d.weekday() + 1) % 7 in self.weekdays
        return (dom and dow) if self.any_day else (dom or dow)

    def next_after(self, t: float) -> float | None:
        """The first time after ``t`` (epoch seconds) the schedule fires; None within five years."""
        d = dt.datetime.fromtimestamp(t, self.tz).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = d.year + 5
        while d.year <= limit:
            if d.month not in self.months:
                d = (d.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            elif not self._day_matches(d):
                d = d.replace(hour=0, minute=0) + dt.timedelta(days=1)
            elif d.hour not in self.hours:
                d = d.replace(minute=0) + dt.timedelta(hours=1)
            elif d.minute not in self.minutes:
                d += dt.timedelta(minutes=1)
            else:
                return d.timestamp()
        return None


def zone(name: str | None) -> dt.tzinfo:
    """``spec.timeZone`` (None: the controller manager's zone, UTC); ``CronError`` if unknown."""
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name}") from None
