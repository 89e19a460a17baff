"""The trainer's room page at 100 attendees, opened in headless Chromium: it fits the window (no
horizontal scrolling at 1280 or 800 px), the histogram of step times is drawn, the attendee table sorts
by a header click and filters (by text, and to the stuck only).

Needs Debian's ``chromium`` and ``npm ci`` in tests/browser (playwright-core, no browser download);
skipped with the reason when either is missing. No JupyterLab or simulator: the page is a file. The
screenshot is kept under test-artifacts/.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from lab_server import ARTIFACTS, missing, run_script

from ambient_lb import cli

pytestmark = pytest.mark.browser

# the guide's first notebooks, as a room goes through them
STEPS = [("00.1", "Tools"), ("00.2", "The simulator"), ("00.3", "The cluster is reachable"),
         ("00.4", "The ambient mesh"), ("00.5", "The license key"), ("01.1", "Gateway API CRDs"),
         ("01.2", "kgateway CRDs"), ("01.3", "kgateway"), ("01.4", "kgateway-system in the mesh"),
         ("01.5", "The Gateway http"), ("01.6", "The gateway address"), ("02.1", "The sample app"),
         ("02.2", "Scale to 3"), ("02.3", "The HTTPRoute"), ("02.4", "Traffic reaches every replica"),
         ("02.5", "The mTLS proof")]
STUCK = {  # attendee number -> (step index, reason): three causes, as in a real room
    **{i: (9, "Programmed=False reason=Invalid message='the license key is missing or invalid: set "
              "LICENSE_KEY and re-run helm upgrade --install enterprise-kgateway ...'") for i in range(3, 101, 9)},
    **{i: (13, "Accepted=False reason=NotAllowedByListeners message='no listener of Gateway http allows "
               "routes from namespace httpbin' " + "x" * 300) for i in range(5, 101, 17)},
    **{i: (14, "command failed: kubectl (exit 1): error: unable to upgrade connection: container not found "
               "(\"in-ambient\")") for i in (11, 58)},
}


def synthetic_room(root: Path, n: int = 100) -> list[Path]:
    """``n`` attendees' run dirs with summary.json as the runner writes them; one never started."""
    rng = random.Random(13)
    dirs = []
    for i in range(1, n + 1):
        d = root / f"attendee-{i:03d}"
        d.mkdir(parents=True)
        dirs.append(d)
        if i == n:
            continue  # did not start: no summary.json
        stop, reason = STUCK.get(i, (len(STEPS) - 1, ""))
        steps = []
        for k, (number, title) in enumerate(STEPS[:stop + 1]):
            failed = k == stop and bool(reason)
            steps.append({"step": number, "title": title, "ok": not failed,
                          "seconds": round(rng.lognormvariate(1.2, 0.7) + (110 if failed else 0), 2),
                          "checks": [{"name": f"{title} checked", "status": "FAIL" if failed else "PASS",
                                      "ok": not failed, "detail": "not true within 120 s" if failed else "ok",
                                      "hint": "kubectl describe gateway http -n kgateway-system" if failed else "",
                                      "reason": reason if failed else "", "attempts": 1, "seconds": 0.2}]})
        by_nb: dict[str, list] = {}
        for s in steps:
            by_nb.setdefault(s["step"][:2], []).append(s)
        ok = not reason
        (d / "summary.json").write_text(json.dumps({"ok": ok, "first_failure": None if ok else reason, "notebooks": [
            {"name": f"{nb}-notebook", "ok": ok or nb != steps[-1]["step"][:2],
             "seconds": sum(s["seconds"] for s in ss), "error": "", "steps": ss} for nb, ss in by_nb.items()]}))
    return dirs


def test_the_room_page_for_100_attendees_fits_sorts_filters_and_draws_the_histogram(tmp_path):
    reason = missing()
    if reason:
        pytest.skip(reason)
    dirs = synthetic_room(tmp_path / "room")
    page = tmp_path / "report.html"
    assert cli.main(["report", *map(str, dirs), "--html", str(page)]) == 1  # some are stuck
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-room-report-100.png"
    events = run_script("room_report.mjs", str(page), str(shot), shutil.which("chromium") or "", timeout=120)
    layouts = [e for e in events if e["event"] == "layout"]
    stuck_people = len(STUCK) + 1  # and the one who never started
    for layout in layouts:
        assert layout["scrollWidth"] <= layout["clientWidth"], layout  # no horizontal scrolling
        assert layout["spills"] == 0, layout
        assert layout["rows"] == 100 and layout["stuckGroups"] == 4
        assert layout["histogram"]["width"] > 300 and layout["histogram"]["height"] > 100
        assert layout["histogramBars"] > 5
    assert [x["width"] for x in layouts] == [1280, 800]
    sorted_ = next(e for e in events if e["event"] == "sorted")
    assert sorted_["ascending"] and sorted_["descending"] and sorted_["up"] != sorted_["down"]
    filtered = next(e for e in events if e["event"] == "filtered")
    assert filtered["stuck"] == stuck_people and set(filtered["states"]) == {"stuck", "not started"}
    assert filtered["one"] == ["attendee-042"] and filtered["shown"] == "1 of 100 shown"
    assert filtered["all"] == 100
    assert shot.stat().st_size > 10_000
