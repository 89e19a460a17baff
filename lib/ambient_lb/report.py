"""``ambient-lb report``: one table of who is stuck where, over one or many run directories.

A trainer points it at the run dirs of a room (``runs/alice runs/bob`` or ``runs/*``); ``runner.py``
and ``workshop.py`` also use :func:`render_run_html` for each run's ``summary.html``. Input is only
each run's ``summary.json``, written by the runner.
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path
from typing import Any

from .errors import ParameterError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds ``ambient-lb report``'s arguments: run directories and an optional HTML file."""
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (with summary.json)")
    p.add_argument("--html", metavar="FILE", help="also write the table as an HTML page")


def main(args: argparse.Namespace) -> int:
    """Prints one row per run (and writes the HTML table when asked); returns 0 when every run passed, else 1."""
    rows = [row_for(Path(d)) for d in args.runs]
    names = [r["run"] for r in rows]
    for r, d in zip(rows, args.runs, strict=True):  # same directory names (runs/a/latest, runs/b/latest): paths
        if names.count(r["run"]) > 1:
            r["run"] = str(d)
    print(render_text(rows))
    if args.html:
        Path(args.html).write_text(render_rows_html(rows))
        print(f"report: {args.html}")
    return 0 if all(r["ok"] for r in rows) else 1


def load_summary(run_dir: Path) -> dict[str, Any]:
    """A run directory's summary.json; ParameterError when the directory has none."""
    path = run_dir / "summary.json"
    if not path.is_file():
        raise ParameterError(f"{run_dir}: no summary.json there; pass a directory written by "
                             f"'ambient-lb run --out DIR' (e.g. runs/latest)")
    return json.loads(path.read_text())


def row_for(run_dir: Path) -> dict[str, Any]:
    """Who (the run dir's name), how far they got, and where they are stuck."""
    s = load_summary(run_dir)
    notebooks = s.get("notebooks", [])
    checks = [c for n in notebooks for st in n.get("steps", []) for c in st.get("checks", [])]
    passed = sum(1 for c in checks if c.get("ok", c.get("status") != "FAIL"))
    ran = [n for n in notebooks if not n.get("skipped")]  # a skipped notebook is not where they got to
    last = ran[-1]["name"] if ran else "-"
    return {"run": run_dir.name, "ok": bool(s.get("ok")), "reached": last,
            "checks": f"{passed}/{len(checks)}",
            "seconds": round(sum(n.get("seconds", 0) for n in notebooks), 1),
            "stuck_at": "" if s.get("ok") else (s.get("first_failure") or "")}


def render_text(rows: list[dict[str, Any]]) -> str:
    """The runs as a plain-text table (cells cut at 80 characters) followed by a count of the stuck runs."""
    cols = ["run", "ok", "reached", "checks", "seconds", "stuck_at"]
    cells = [[str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i][:80]) for x in cells)) if cells else len(c)
              for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v[:80].ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    stuck = sum(1 for r in rows if not r["ok"])
    lines.append(f"{len(rows) - stuck} of {len(rows)} runs passed; {stuck} stuck")
    return "\n".join(lines)


_STYLE = ("<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:3px 6px;"
          "vertical-align:top}table{border-collapse:collapse}.PASS{color:#1a7f37}"
          ".FAIL{color:#cf222e}.SKIP{color:#6e7781}</style>")


def render_rows_html(rows: list[dict[str, Any]]) -> str:
    """The rows as a standalone HTML page with one table."""
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in rows[0]) if rows else ""
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r.values()) + "</tr>"
                   for r in rows)
    return (f"<!doctype html><meta charset='utf-8'><title>ambient-lb report</title>{_STYLE}"
            f"<h1>ambient-lb report</h1><table><tr>{head}</tr>{body}</table>")


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
