"""The cron schedule parser and next-run times a CronJob uses (docs/semantics-addendum.md R16.26)."""

from __future__ import annotations

import datetime as dt

import pytest

from ambient_lb.sim.cron import CronError, Schedule


def _at(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def _next(spec: str, after: float, tz: str | None = None) -> dt.datetime:
    t = Schedule.parse(spec, tz).next_after(after)
    assert t is not None
    return dt.datetime.fromtimestamp(t, dt.UTC)


@pytest.mark.parametrize("spec,expected", [
    ("*/5 * * * *", (2025, 1, 1, 0, 5)),
    ("0 * * * *", (2025, 1, 1, 1, 0)),
    ("@hourly", (2025, 1, 1, 1, 0)),
    ("@daily", (2025, 1, 2, 0, 0)),
    ("@weekly", (2025, 1, 5, 0, 0)),       # 2025-01-01 is a Wednesday; the next Sunday
    ("@monthly", (2025, 2, 1, 0, 0)),
    ("30 6 * JAN-MAR MON", (2025, 1, 6, 6, 30)),
    ("5/20 * * * *", (2025, 1, 1, 0, 5)),  # "5/20" is 5-59/20: 5, 25, 45
    ("0 0 13 * FRI", (2025, 1, 3, 0, 0)),  # both days restricted: either matches (Friday the 3rd)
    ("0 0 13 * *", (2025, 1, 13, 0, 0)),
])
def test_next_run_after_new_year(spec, expected) -> None:
    """robfig/cron semantics: ranges, steps, names, descriptors, the day-of-month/day-of-week OR."""
    assert _next(spec, _at(2025, 1, 1, 0, 3)) == dt.datetime(*expected, tzinfo=dt.UTC)


def test_time_zone_moves_the_run() -> None:
    """spec.timeZone: 09:00 in Berlin is 08:00 UTC in winter."""
    assert _next("0 9 * * *", _at(2025, 1, 1), "Europe/Berlin") == dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("spec,message", [
    ("x", "expected exactly 5 fields, found 1: [x]"),
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
    ("@often", "unrecognized descriptor: @often"),
])
def test_unparseable_schedules_say_why_as_robfig_does(spec, message) -> None:
    with pytest.raises(CronError) as exc:
        Schedule.parse(spec)
    assert str(exc.value) == message


def test_unknown_time_zone() -> None:
    with pytest.raises(CronError, match="unknown time zone Mars/Olympus"):
        Schedule.parse("* * * * *", "Mars/Olympus")
