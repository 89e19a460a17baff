"""report.py's room page: who is where, the stuck grouped by the check that failed (with its reason),
time per step and a histogram, for a room read from each attendee's summary.json."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from ambient_lb import cli
from ambient_lb.report import render_room_html, seat_for
from ambient_lb.workshop import _parallel, auto_parallel


def step(number: str, title: str, ok: bool = True, seconds: float | None = 2.0, reason: str = "") -> dict:
    check = {"name": f"{title} holds", "status": "PASS" if ok else "FAIL", "ok": ok,
             "detail": "as expected" if ok else "not true within 120 s", "hint": "" if ok else "kubectl describe it",
             "reason": reason, "attempts": 1, "seconds": 0.1}
    record = {"step": number, "title": title, "ok": ok, "checks": [check]}
    if seconds is not None:
        record["seconds"] = seconds
    return record


def write_run(d: Path, steps: list[dict], ok: bool) -> Path:
    d.mkdir(parents=True)
    failure = None if ok else "see the steps"
    (d / "summary.json").write_text(json.dumps({"ok": ok, "first_failure": failure, "notebooks": [
        {"name": "01-install-kgateway", "ok": ok, "seconds": sum(s.get("seconds", 0) for s in steps),
         "error": "", "steps": steps}]}))
    return d


@pytest.fixture
def room(tmp_path: Path) -> list[Path]:
    programmed = "Programmed=False reason=Invalid message='no license'"
    return [
        write_run(tmp_path / "alice", [step("01.1", "CRDs", seconds=1.0), step("01.5", "Gateway", seconds=3.0)], True),
        write_run(tmp_path / "bob", [step("01.1", "CRDs", seconds=1.5),
                                     step("01.5", "Gateway", ok=False, seconds=120.0, reason=programmed)], False),
        write_run(tmp_path / "carol", [step("01.1", "CRDs", seconds=2.5),
                                       step("01.5", "Gateway", ok=False, seconds=121.0, reason=programmed)], False),
        tmp_path / "dave",  # never started: no summary.json
    ]


def test_a_seat_says_how_far_an_attendee_got_and_which_check_failed_with_its_reason(room):
    bob = seat_for(room[1])
    assert (bob.state, bob.reached, bob.passed, bob.checks) == ("stuck", "01.5 Gateway", 1, 2)
    assert bob.failure["check"] == "Gateway holds" and "no license" in bob.failure["reason"]
    assert [s["status"] for s in bob.steps] == ["PASS", "FAIL"]


def test_an_attendee_without_a_summary_is_not_started(room):
    room[3].mkdir()
    dave = seat_for(room[3])
    assert dave.state == "not started" and "no summary.json" in dave.failure["detail"]


def test_the_room_page_groups_the_stuck_by_failed_check_with_reason_and_hint(room):
    page = render_room_html([seat_for(d) for d in room[:3]])
    assert "2 of 3" not in page and "1 of 3 passed" in page and "2 stuck" in page
    stuck = page[page.index("id='stuck'"):page.index("</table>", page.index("id='stuck'"))]
    assert stuck.count("<tr>") == 2  # the header and one group: bob and carol share the cause
    assert "<td class='num'>2</td>" in stuck and "no license" in stuck and "kubectl describe it" in stuck
    assert "bob, carol" in stuck


def test_the_attendee_table_lists_the_stuck_first_with_a_strip_of_their_steps(room):
    page = render_room_html([seat_for(d) for d in room[:3]])
    body = page[page.index("id='attendees'"):]
    names = re.findall(r"<tr data-state='[^']+'><td>(\w+)</td>", body)
    assert names == ["bob", "carol", "alice"]
    assert body.count("<span class='FAIL'") == 2 and body.count("<span class='PASS'") == 4


def test_time_per_step_has_median_p90_max_and_the_slowest_attendee_and_a_histogram(room):
    page = render_room_html([seat_for(d) for d in room[:3]])
    steps = page[page.index("id='steps'"):]
    row = re.search(r"<tr><td>01\.5</td><td>Gateway</td>(.*?)</tr>", steps).group(1)
    assert re.findall(r">([\d.]+)<", row)[:4] == ["3", "120.0", "121.0", "121.0"] and "carol" in row
    assert "<figure id='histogram'><svg" in page and "6 steps of 3 attendees" in page


def test_summaries_without_step_times_still_render_and_say_so(tmp_path):
    old = write_run(tmp_path / "old", [step("00.1", "Tools", seconds=None)], True)
    page = render_room_html([seat_for(old)])
    assert "No step times" in page and "<svg" not in page


def test_text_in_the_page_is_escaped(tmp_path):
    d = write_run(tmp_path / "eve", [step("01.5", "<script>alert(1)</script>", ok=False,
                                          reason="<img src=x>")], False)
    page = render_room_html([seat_for(d)])
    assert "<script>alert(1)" not in page and "&lt;img src=x&gt;" in page


def test_report_html_writes_the_room_page(room, tmp_path, capsys):
    page = tmp_path / "room.html"
    assert cli.main(["report", *map(str, room[:3]), "--html", str(page)]) == 1
    text = page.read_text()
    assert "id='attendees'" in text and "id='histogram'" in text and "alice" in text
    assert "report: " in capsys.readouterr().out


@pytest.mark.parametrize("attendees,cpus,free_mb,want", [(30, 2, 24_000, 6), (30, 2, 1_800, 3), (2, 8, 64_000, 2),
                                                         (10, 1, 100, 1)])
def test_auto_parallel_is_bounded_by_cpus_memory_and_the_room(attendees, cpus, free_mb, want):
    assert auto_parallel(attendees, cpus=cpus, available_mb=free_mb) == want


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_parallel_values_are_refused_with_an_example(value):
    with pytest.raises(argparse.ArgumentTypeError, match="e.g. --parallel 4"):
        _parallel(value)


def test_report_over_a_room_glob_skips_files_and_lists_who_did_not_start(room, tmp_path, capsys):
    room[3].mkdir()
    (tmp_path / "report.html").write_text("an earlier page")  # runs/room/* matches it too
    page = tmp_path / "room.html"
    assert cli.main(["report", *map(str, room), str(tmp_path / "report.html"), "--html", str(page)]) == 1
    out = capsys.readouterr().out
    assert "dave" in out and "did not start" in out and "1 of 4 runs passed; 3 stuck" in out
    assert "not started" in page.read_text()
