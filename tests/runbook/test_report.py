"""report.py: one table of who is stuck where over many run directories."""

from __future__ import annotations

import json
from pathlib import Path

from ambient_lb import cli
from ambient_lb.report import render_run_html, row_for


def summary(ok: bool, failure: str | None = None) -> dict:
    check = {"name": "Gateway http Programmed", "status": "PASS" if ok else "FAIL", "ok": ok,
             "detail": "Programmed=True" if ok else "Programmed=False", "hint": "describe it",
             "attempts": 3, "seconds": 0.5}
    return {"ok": ok, "first_failure": failure, "notebooks": [
        {"name": "01-install-kgateway", "ok": ok, "seconds": 4.0, "error": "",
         "steps": [{"step": "01.5", "title": "Create the Gateway http", "checks": [check]}]}]}


def write(d: Path, data: dict) -> Path:
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(data))
    return d


def test_report_lists_each_run_and_where_it_is_stuck(tmp_path, capsys):
    alice = write(tmp_path / "alice", summary(True))
    bob = write(tmp_path / "bob", summary(False, "01-install-kgateway step 01.5: Programmed"))
    page = tmp_path / "report.html"
    code = cli.main(["report", str(alice), str(bob), "--html", str(page)])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 of 2 runs passed; 1 stuck" in out
    bob_line = next(line for line in out.splitlines() if line.startswith("bob"))
    assert "01-install-kgateway step 01.5: Programmed" in bob_line and "0/1" in bob_line
    assert "alice" in page.read_text()


def test_a_run_dir_without_summary_gets_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["report", str(tmp_path / "empty")]) == 2
    assert "no summary.json" in capsys.readouterr().err


def test_run_page_shows_attempts_seconds_and_hint_on_failure():
    page = render_run_html(summary(False, "x"))
    assert "<td>3</td><td>0.5</td>" in page and "try: describe it" in page


def test_row_counts_passed_checks(tmp_path):
    row = row_for(write(tmp_path / "carol", summary(True)))
    assert row == {"run": "carol", "ok": True, "reached": "01-install-kgateway", "checks": "1/1",
                   "seconds": 4.0, "stuck_at": ""}
