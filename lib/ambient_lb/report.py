"""``ambient-lb report``: who is stuck where, over one or many run directories.

A trainer points it at the run dirs of a room (``runs/alice runs/bob`` or ``runs/*``) and gets a text
table and, with ``--html``, the room page (:func:`render_room_html`): the stuck grouped by the check
that failed (with its reason and hint), every attendee in a sortable, filterable table with a strip of
their steps, and the time per step with a histogram. ``workshop.py`` writes the same page;
``runner.py`` uses :func:`render_run_html` for each run's ``summary.html``. Input is only each run's
``summary.json``, written by the runner.
"""

from __future__ import annotations

import argparse
import html
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import results
from .errors import ParameterError
from .job_manifests import DEFAULT_NAMESPACE, dns_label


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds ``ambient-lb report``'s arguments: run directories, or a room's results in the cluster; HTML file."""
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories (with summary.json)")
    p.add_argument("--html", metavar="FILE", help="also write the table as an HTML page")
    p.add_argument("--from-cluster", metavar="ROOM",
                   help="read the results the Jobs of `ambient-lb workshop --jobs --name ROOM` published to the "
                        "current context's cluster (written to --out, then reported)")
    p.add_argument("--namespace", default=DEFAULT_NAMESPACE, help=f"with --from-cluster (default {DEFAULT_NAMESPACE})")
    p.add_argument("--out", metavar="DIR", help="with --from-cluster: where the results go (default runs/ROOM)")


def main(args: argparse.Namespace) -> int:
    """Prints one row per run (and writes the HTML page when asked); returns 0 when every run passed, else 1."""
    if args.from_cluster:
        if args.runs:
            raise ParameterError("give run directories or --from-cluster ROOM, not both "
                                 "(e.g. ambient-lb report --from-cluster room-12 --html room.html)")
        from .kube import Kube  # the client is slow to import; only this path needs it

        room = dns_label(args.from_cluster, "--from-cluster", "--from-cluster room-12")
        out = Path(args.out or f"runs/{room}")
        kube = Kube.current()
        args.runs = [str(d) for d in results.fetch(kube, args.namespace, room, out)]
        print(f"{len(args.runs)} attendee(s) of {room} from namespace {args.namespace} of context {kube.context} "
              f"-> {out}")
    elif not args.runs:
        raise ParameterError("no runs given: pass run directories (e.g. ambient-lb report runs/*) or "
                             "--from-cluster ROOM")
    runs = [Path(d) for d in args.runs if not Path(d).is_file()]  # runs/room/* also matches report.html
    started = [d for d in runs if (d / "summary.json").is_file() or _not_published(d) is not None]
    if not started:  # nothing here is a run: say so (a typo, or the wrong directory)
        row_for(runs[0] if runs else Path(args.runs[0]))
    # in a room some may not have started: they are rows too, not a reason to refuse the report
    rows = [row_for(d) if d in started else _not_started_row(d) for d in runs]
    names = [r["run"] for r in rows]
    for r, d in zip(rows, runs, strict=True):  # same directory names (runs/a/latest, runs/b/latest): paths
        if names.count(r["run"]) > 1:
            r["run"] = str(d)
    print(render_text(rows))
    if args.html:
        seats = [seat_for(d, r["run"]) for d, r in zip(runs, rows, strict=True)]
        Path(args.html).write_text(render_room_html(seats))
        print(f"report: {args.html}")
    return 0 if all(r["ok"] for r in rows) else 1


def load_summary(run_dir: Path) -> dict[str, Any]:
    """A run directory's summary.json; ParameterError when the directory has none."""
    path = run_dir / "summary.json"
    if not path.is_file():
        raise ParameterError(f"{run_dir}: no summary.json there; pass a directory written by "
                             f"'ambient-lb run --out DIR' (e.g. runs/latest)")
    return json.loads(path.read_text())


STILL_RUNNING = "(still running)"  # a row's stuck_at while its workshop Job is still running


def row_for(run_dir: Path) -> dict[str, Any]:
    """Who (the run dir's name), how far they got, and where they are stuck."""
    unpublished = _not_published(run_dir)
    if unpublished is not None:
        return {"run": run_dir.name, "ok": False, "reached": "-", "checks": "0/0", "seconds": 0,
                "stuck_at": "; ".join(x for x in (unpublished["detail"], unpublished.get("pod", "")) if x)}
    s = load_summary(run_dir)
    notebooks = s.get("notebooks", [])
    checks = [c for n in notebooks for st in n.get("steps", []) for c in st.get("checks", [])]
    passed = sum(1 for c in checks if c.get("ok", c.get("status") != "FAIL"))
    ran = [n for n in notebooks if not n.get("skipped")]  # a skipped notebook is not where they got to
    last = ran[-1]["name"] if ran else "-"
    running = s.get("finished") is False  # a workshop Job's progress (results.py): not done, not stuck
    return {"run": run_dir.name, "ok": bool(s.get("ok")) and not running, "reached": last,
            "checks": f"{passed}/{len(checks)}",
            "seconds": round(sum(n.get("seconds", 0) for n in notebooks), 1),
            "stuck_at": STILL_RUNNING if running else "" if s.get("ok") else s.get("first_failure") or ""}


def _not_published(run_dir: Path) -> dict[str, str] | None:
    """What ``results.fetch`` wrote for a workshop Job that published nothing, or None."""
    path = run_dir / results.NOT_PUBLISHED
    if (run_dir / "summary.json").is_file() or not path.is_file():
        return None
    return dict(json.loads(path.read_text()))


def _not_started_row(run_dir: Path) -> dict[str, Any]:
    return {"run": run_dir.name, "ok": False, "reached": "-", "checks": "0/0", "seconds": 0,
            "stuck_at": f"did not start: no summary.json in {run_dir}"}


def render_text(rows: list[dict[str, Any]]) -> str:
    """The runs as a plain-text table (cells cut at 80 characters) followed by a count of the stuck runs."""
    cols = ["run", "ok", "reached", "checks", "seconds", "stuck_at"]
    cells = [[str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i][:80]) for x in cells)) if cells else len(c)
              for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v[:80].ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    running = sum(1 for r in rows if r["stuck_at"] == STILL_RUNNING)
    stuck = sum(1 for r in rows if not r["ok"]) - running
    lines.append(f"{len(rows) - stuck - running} of {len(rows)} runs passed; {stuck} stuck"
                 + (f"; {running} still running" if running else ""))
    return "\n".join(lines)


_STYLE = ("<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:3px 6px;"
          "vertical-align:top}table{border-collapse:collapse}.PASS{color:#1a7f37}"
          ".FAIL{color:#cf222e}.SKIP{color:#6e7781}</style>")


# ---- the room page ---------------------------------------------------------------------------------


@dataclass
class Seat:
    """One attendee of the room, as the room page shows them (from their run's summary.json)."""

    name: str
    state: str  # passed | stuck | not started
    reached: str = "-"  # the last step they ran: "02.4 Send traffic"
    passed: int = 0
    checks: int = 0
    seconds: float = 0.0
    failure: dict[str, str] = field(default_factory=dict)  # step, title, check, detail, reason, hint
    steps: list[dict[str, Any]] = field(default_factory=list)  # step, title, status, seconds


def seat_for(run_dir: Path, name: str | None = None) -> Seat:
    """The attendee whose run wrote ``run_dir``; a run dir without summary.json is "not started"."""
    name = name or run_dir.name
    unpublished = _not_published(run_dir)
    if unpublished is not None:
        state = "running" if unpublished.get("state") == "waiting" else "not started"
        return Seat(name, state, failure={"check": "the Job published no result", "detail": unpublished["detail"],
                                          "reason": unpublished.get("pod", ""), "hint": unpublished.get("hint", "")})
    if not (run_dir / "summary.json").is_file():
        log = run_dir / "run.log"
        return Seat(name, "not started", failure={"check": "the run did not start",
                    "detail": f"no summary.json in {run_dir}", "hint": f"read {log}" if log.exists() else ""})
    s = load_summary(run_dir)
    seat = Seat(name, "running" if s.get("finished") is False else "passed" if s.get("ok") else "stuck")
    for n in s.get("notebooks", []):
        for st in n.get("steps", []):
            checks = st.get("checks", [])
            failed = next((c for c in checks if not c.get("ok", c.get("status") != "FAIL")), None)
            status = "FAIL" if failed else ("SKIP" if checks and all(c.get("status") == "SKIP" for c in checks)
                                            else "PASS")
            seat.steps.append({"step": str(st.get("step", "")), "title": str(st.get("title", "")),
                               "status": status, "seconds": st.get("seconds")})
            seat.checks += len(checks)
            seat.passed += sum(1 for c in checks if c.get("ok", c.get("status") != "FAIL"))
            if failed and not seat.failure:
                seat.failure = {"step": str(st.get("step", "")), "title": str(st.get("title", "")),
                                "check": str(failed.get("name", "")), "detail": str(failed.get("detail", "")),
                                "reason": " ".join(str(failed.get("reason") or "").split())[:600],
                                "hint": str(failed.get("hint", ""))}
        if n.get("error") and not n.get("ok") and not seat.failure:
            seat.failure = {"step": n["name"], "check": "the notebook failed", "detail": str(n["error"])}
        seat.seconds += float(n.get("seconds") or 0)
    if seat.steps:
        seat.reached = f"{seat.steps[-1]['step']} {seat.steps[-1]['title']}"
    if seat.state == "stuck" and not seat.failure:
        seat.failure = {"check": "the run failed", "detail": str(s.get("first_failure") or "")}
    return seat


def render_room_html(seats: list[Seat], title: str = "ambient-lb room") -> str:
    """One page for a room of any size (written for 100): the stuck grouped by failed check, every
    attendee (sortable, filterable; stuck first), time per step and a histogram of step times."""
    e = html.escape
    stuck = [x for x in seats if x.state in ("stuck", "not started")]
    running = sum(1 for x in seats if x.state == "running")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!doctype html><html lang='en'><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{e(title)}</title>"
             f"<style>{_ROOM_STYLE}</style><body><main>",
             f"<h1>{e(title)}: {len(seats) - len(stuck) - running} of {len(seats)} passed, "
             f"<span class='{'FAIL' if stuck else 'PASS'}'>{len(stuck)} stuck</span>"
             f"{f', {running} still running' if running else ''}</h1>",
             f"<p class='meta'>{when}; from each attendee's summary.json. Times are wall seconds.</p>"]
    parts += _stuck_section(stuck)
    parts += _attendee_section(seats)
    parts += _time_section(seats)
    parts.append(f"</main><script>{_ROOM_SCRIPT}</script></body></html>")
    return "".join(parts)


def _stuck_section(stuck: list[Seat]) -> list[str]:
    """The failures grouped by (step, check): the trainer fixes one cause for many people at once."""
    e = html.escape
    if not stuck:
        return ["<h2>Where people are stuck</h2><p class='PASS'>Nobody is stuck.</p>"]
    groups: dict[tuple[str, str], list[Seat]] = defaultdict(list)
    for x in stuck:
        groups[(x.failure.get("step", ""), x.failure.get("check", ""))].append(x)
    out = ["<h2>Where people are stuck</h2><table id='stuck' class='grid'><colgroup><col class='w-n'>"
           "<col class='w-step'><col><col class='w-who'></colgroup><thead><tr><th>people</th><th>step</th>"
           "<th>failed check: reason, and what to try</th><th>who</th></tr></thead><tbody>"]
    for (step, check), people in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        f = people[0].failure
        reasons = sorted({p.failure["reason"] for p in people if p.failure.get("reason")})
        why = "".join(f"<div class='reason'>{e(r)}</div>" for r in reasons[:3])
        if len(reasons) > 3:
            why += f"<div class='meta'>and {len(reasons) - 3} other reasons</div>"
        hint = f"<div><b>try:</b> {e(f['hint'])}</div>" if f.get("hint") else ""
        names = ", ".join(e(p.name) for p in people)
        out.append(f"<tr><td class='num'>{len(people)}</td><td>{e(step)} {e(f.get('title', ''))}</td>"
                   f"<td><b>{e(check)}</b>: {e(f.get('detail', ''))}{why}{hint}</td>"
                   f"<td><details><summary>{len(people)} attendee{'s' if len(people) > 1 else ''}</summary>"
                   f"{names}</details></td></tr>")
    out.append("</tbody></table>")
    return out


_STATE_ORDER = {"stuck": 0, "not started": 1, "running": 2, "passed": 3}


def _attendee_section(seats: list[Seat]) -> list[str]:
    e = html.escape
    order = sorted(seats, key=lambda x: (_STATE_ORDER.get(x.state, 3), x.name))
    all_steps = sorted({st["step"] for x in seats for st in x.steps}, key=_step_key)
    out = ["<h2>Attendees</h2><div class='controls'>"
           "<label>filter <input id='filter' type='search' placeholder='name, step, check, reason'></label> "
           "<label><input id='only-stuck' type='checkbox'> only the stuck</label> "
           f"<span id='shown' class='meta'>{len(seats)} of {len(seats)} shown</span></div>",
           "<table id='attendees' class='grid sortable'><colgroup><col class='w-name'><col class='w-state'>"
           "<col class='w-step'><col class='w-n'><col class='w-n'><col class='w-strip'><col></colgroup>"
           "<thead><tr><th data-sort='text'>attendee</th><th data-sort='text'>state</th>"
           "<th data-sort='step'>reached</th><th data-sort='num'>checks</th><th data-sort='num'>minutes</th>"
           "<th>steps</th><th data-sort='text'>stuck at</th></tr></thead><tbody>"]
    for x in order:
        statuses = {st["step"]: st for st in x.steps}
        strip = "".join(
            f"<span class='{statuses[s]['status'] if s in statuses else 'NONE'}' title='{e(s)} "
            f"{e(statuses[s]['title'] if s in statuses else 'not run')}'></span>" for s in all_steps)
        f = x.failure
        stuck_at = ""
        if f:
            stuck_at = (f"{e(f.get('step', ''))} <b>{e(f.get('check', ''))}</b>: {e(f.get('detail', ''))}"
                        + (f"<div class='reason'>{e(f['reason'])}</div>" if f.get("reason") else ""))
        css = {"passed": "PASS", "running": "SKIP"}.get(x.state, "FAIL")
        out.append(f"<tr data-state='{e(x.state)}'><td>{e(x.name)}</td><td class='{css}'>{e(x.state)}</td>"
                   f"<td>{e(x.reached)}</td><td class='num' data-value='{x.passed}'>{x.passed}/{x.checks}</td>"
                   f"<td class='num'>{x.seconds / 60:.1f}</td><td><div class='strip'>{strip}</div></td>"
                   f"<td>{stuck_at}</td></tr>")
    out.append("</tbody></table>")
    return out


def _time_section(seats: list[Seat]) -> list[str]:
    e = html.escape
    per_step: dict[str, list[tuple[float, str]]] = defaultdict(list)
    titles: dict[str, str] = {}
    for x in seats:
        for st in x.steps:
            if isinstance(st.get("seconds"), (int, float)):
                per_step[st["step"]].append((float(st["seconds"]), x.name))
                titles[st["step"]] = st["title"]
    out = ["<h2>Time per step</h2>"]
    if not per_step:
        return out + ["<p class='meta'>No step times in these summaries (runs from before step times were "
                      "recorded).</p>"]
    every = [t for xs in per_step.values() for t, _ in xs]
    slow = _quantile(every, 0.95)
    out.append(f"<figure id='histogram'>{_histogram_svg(every, slow)}<figcaption>Step times over the room "
               f"({len(every)} steps of {len(seats)} attendees); dashed: the 95th percentile, "
               f"{slow:.1f} s.</figcaption></figure>")
    out.append("<table id='steps' class='grid sortable'><colgroup><col class='w-step'><col><col class='w-n'>"
               "<col class='w-n'><col class='w-n'><col class='w-n'><col class='w-name'></colgroup><thead><tr>"
               "<th data-sort='step'>step</th><th data-sort='text'>title</th><th data-sort='num'>ran</th>"
               "<th data-sort='num'>median s</th><th data-sort='num'>p90 s</th><th data-sort='num'>max s</th>"
               "<th data-sort='text'>slowest</th></tr></thead><tbody>")
    for step in sorted(per_step, key=_step_key):
        xs = per_step[step]
        times = [t for t, _ in xs]
        worst = max(xs)
        out.append(f"<tr><td>{e(step)}</td><td>{e(titles[step])}</td><td class='num'>{len(xs)}</td>"
                   f"<td class='num'>{statistics.median(times):.1f}</td>"
                   f"<td class='num'>{_quantile(times, 0.9):.1f}</td><td class='num'>{worst[0]:.1f}</td>"
                   f"<td>{e(worst[1])}</td></tr>")
    out.append("</tbody></table>")
    return out


def _histogram_svg(seconds: list[float], slow: float) -> str:
    from . import plots  # matplotlib, pandas: only the room page draws

    svg = plots.to_svg(plots.plot_step_times(seconds, slow=slow))
    return svg[svg.index("<svg"):]  # inline: no XML prolog or doctype


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else 0.0


def _step_key(step: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in step.replace("-", ".").split("."))


_ROOM_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1f2328}
main{max-width:1200px;margin:0 auto;padding:12px 16px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
.meta{color:#6e7781;font-size:.9em}
table.grid{border-collapse:collapse;width:100%;table-layout:fixed;font-size:.9em}
.grid th,.grid td{border:1px solid #d0d7de;padding:3px 6px;vertical-align:top;overflow-wrap:anywhere;text-align:left}
.grid thead th{position:sticky;top:0;background:#f6f8fa}
.sortable th[data-sort]{cursor:pointer}
.sortable th[aria-sort=ascending]::after{content:' \25B2'}.sortable th[aria-sort=descending]::after{content:' \25BC'}
.num{text-align:right!important;font-variant-numeric:tabular-nums}
.reason{color:#57606a;font-size:.92em;max-height:4.5em;overflow:auto}
col.w-n{width:5.5em}col.w-step{width:12em}col.w-who{width:12em}col.w-name{width:9em}col.w-state{width:7em}
col.w-strip{width:22%}
.strip{display:flex;gap:1px;height:14px}
.strip span{flex:1 1 0;min-width:1px;background:#eaeef2}
.strip .PASS{background:#2da44e}.strip .FAIL{background:#cf222e}.strip .SKIP{background:#8c959f}
td.PASS,.PASS{color:#1a7f37}td.FAIL,.FAIL{color:#cf222e}
.controls{margin:6px 0}
figure{margin:0}figure svg{width:100%;height:auto;max-width:900px}
details summary{cursor:pointer}
"""

# Sort a table by a header click (numbers, step numbers like 02.10, or text), and filter the attendees.
_ROOM_SCRIPT = """
function key(td, how){const v=td.dataset.value??td.textContent.trim();
 if(how==='num'){const n=parseFloat(v);return isNaN(n)?-Infinity:n}
 if(how==='step'){return v.split(/[ .-]/).slice(0,2).map(p=>p.padStart(4,'0')).join('.')}
 return v.toLowerCase()}
document.querySelectorAll('table.sortable').forEach(t=>{
 t.querySelectorAll('th[data-sort]').forEach(th=>th.addEventListener('click',()=>{
  const i=[...th.parentNode.children].indexOf(th),how=th.dataset.sort;
  const asc=th.getAttribute('aria-sort')!=='ascending';
  t.querySelectorAll('th').forEach(h=>h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort',asc?'ascending':'descending');
  const rows=[...t.tBodies[0].rows];
  rows.sort((a,b)=>{const x=key(a.cells[i],how),y=key(b.cells[i],how);return (x<y?-1:x>y?1:0)*(asc?1:-1)});
  rows.forEach(r=>t.tBodies[0].appendChild(r))}))});
const f=document.getElementById('filter'),s=document.getElementById('only-stuck');
function apply(){const q=f.value.trim().toLowerCase();let n=0;
const rows=document.querySelectorAll('#attendees tbody tr');
 rows.forEach(r=>{const show=(!q||r.textContent.toLowerCase().includes(q))&&(!s.checked||r.dataset.state!=='passed');
  r.hidden=!show;n+=show});
 document.getElementById('shown').textContent=n+' of '+rows.length+' shown'}
if(f){f.addEventListener('input',apply);s.addEventListener('change',apply)}
"""


def render_run_html(summary: dict[str, Any], title: str = "ambient-lb run") -> str:
    """One run: each notebook, each step, each check with attempts and time to pass."""
    e = html.escape
    verdict = "PASS" if summary.get("ok") else "FAIL"
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(title)}</title>{_STYLE}",
             f"<h1>{e(title)}: <span class='{verdict}'>{verdict}</span></h1>"]
    if summary.get("first_failure"):
        parts.append(f"<p><b>First failure:</b> {e(summary['first_failure'])}</p>")
    for key, label in (("cause", "Cause"), ("next", "Next")):
        if summary.get(key):
            parts.append(f"<p><b>{label}:</b> {e(summary[key])}</p>")
    parts.append("<table><tr><th>notebook</th><th>step</th><th>check</th><th>status</th>"
                 "<th>attempts</th><th>seconds</th><th>detail / hint</th></tr>")
    attempt = summary.get("attempt", 1)
    for n in summary.get("notebooks", []):
        # a notebook a --resume carried over says which attempt ran it
        name = n["name"] + (f" (attempt {n['attempt']})" if n.get("attempt", attempt) != attempt else "")
        for s in n.get("steps", []):
            for c in s.get("checks", []) or [{"name": "-", "status": "PASS"}]:
                parts.append(_check_row(name, s, c))
        if n.get("skipped"):
            parts.append(f"<tr><td>{e(n['name'])}</td><td colspan=2>not run</td><td class='SKIP'>SKIP</td>"
                         f"<td></td><td></td><td>{e(n['skipped'])}</td></tr>")
        if n.get("error") and not n.get("ok"):
            parts.append(f"<tr><td>{e(n['name'])}</td><td colspan=6 class='FAIL'>"
                         f"{e(n['error'])}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def _check_row(notebook: str, step: dict[str, Any], c: dict[str, Any]) -> str:
    e = html.escape
    status = c.get("status", "PASS")
    detail = c.get("detail", "")
    if status == "FAIL" and c.get("hint"):
        detail += f" — try: {c['hint']}"
    return (f"<tr><td>{e(notebook)}</td><td>{e(step.get('step', ''))} {e(step.get('title', ''))}"
            f"</td><td>{e(c.get('name', ''))}</td><td class='{status}'>{status}</td>"
            f"<td>{c.get('attempts', '')}</td><td>{c.get('seconds', '')}</td>"
            f"<td>{e(detail)}</td></tr>")
