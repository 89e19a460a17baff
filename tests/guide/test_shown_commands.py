"""What the notebooks show is what a person types and what that command prints.

The curl loops: ``curl_line`` is the command shown, ``curl_output`` what it prints for the requests
the runbook really sent (``curl -s`` adds no newline after a body; ``-w '%{http_code}\\n'`` prints
``000`` when no response came; ``|| echo 'request failed'`` prints only on a transport error).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ambient_lb.checks import OUTPUT_HEADER
from ambient_lb.guide import open_run
from ambient_lb.guide.evidence import curl_line, curl_output

JSON = '{\n  "hostname": "in-ambient-1"\n}\n'


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame([
        {"status": 200, "body": JSON, "error": math.nan},
        {"status": 503, "body": "no healthy upstream", "error": math.nan},
        {"status": 500, "body": "in-ambient-faulty-x\n", "error": math.nan},
        {"status": pd.NA, "body": math.nan, "error": "timeout"},
    ])


def test_curl_loop_prints_each_body_as_is_and_nothing_for_a_transport_error(rows: pd.DataFrame) -> None:
    assert curl_output(rows) == JSON + "no healthy upstream" + "in-ambient-faulty-x\n"


def test_the_guides_step4_loop_echoes_request_failed_only_on_a_transport_error(rows: pd.DataFrame) -> None:
    assert curl_output(rows, max_time=True).endswith("in-ambient-faulty-x\nrequest failed\n")
    assert curl_output(rows, max_time=True).count("request failed") == 1


def test_status_only_curl_prints_one_code_per_request_and_000_without_a_response(rows: pd.DataFrame) -> None:
    assert curl_output(rows, status_only=True) == "200\n503\n500\n000\n"


def test_curl_lines_are_what_a_person_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMBIENT_LB_PARAMS", raising=False)
    run = open_run()
    assert curl_line(run, 1) == 'curl -s -H "Host: httpbin.example.com" http://$KGATEWAY_IP:8080/hostname'
    assert curl_line(run, 9, max_time=True) == (
        'for i in $(seq 1 9); do curl -s --max-time 2 -H "Host: httpbin.example.com" '
        "http://$KGATEWAY_IP:8080/hostname || echo 'request failed'; done")
    assert curl_line(run, 30, status_only=True) == (
        "for i in $(seq 1 30); do curl -s -o /dev/null -w '%{http_code}\\n' -H \"Host: httpbin.example.com\" "
        "http://$KGATEWAY_IP:8080/hostname; done")


def _shown_commands(text: str):
    """(command, output) pairs of a step's text form: ``$ command`` lines, each followed by what it printed,
    up to the next command, note or check line."""
    command, output = None, []
    for line in text.splitlines():
        if line.startswith(("$ ", "NOTE: ", "[PASS]", "[FAIL]", "[SKIP]", "== ", OUTPUT_HEADER)):
            if command is not None:
                yield command, "".join(f"{ln}\n" for ln in output)
            command, output = (line[2:], []) if line.startswith("$ ") else (None, [])
        elif command is not None:
            output.append(line)
    if command is not None:
        yield command, "".join(f"{ln}\n" for ln in output)


def _grep_pipelines():
    """(notebook, step, grep argv, command, output) for each shown one-line command piped into grep (then at
    most head/tail), from the committed notebooks' step outputs."""
    import json
    import shlex
    from pathlib import Path

    from ambient_lb.checks import STEP_MIME

    for path in sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if STEP_MIME not in data:
                    continue
                for command, output in _shown_commands("".join(data.get("text/plain", ""))):
                    if "<<" in command or "| grep" not in command or "$(" in command:
                        continue
                    lexer = shlex.shlex(command, posix=True, punctuation_chars="|")
                    lexer.whitespace_split = True
                    segments: list[list[str]] = [[]]
                    for token in lexer:
                        segments.append([]) if token == "|" else segments[-1].append(token)
                    greps = [i for i, seg in enumerate(segments) if seg and seg[0] == "grep"]
                    after = segments[greps[-1] + 1:] if greps else []
                    if greps and all(seg and seg[0] in ("head", "tail") for seg in after):
                        yield path.stem, data[STEP_MIME]["step"], segments[greps[-1]], command, output


def test_every_line_a_grep_pipeline_shows_passes_that_grep():
    """A shown ``... | grep PATTERN`` output is what grep prints: the real grep, given the shown output,
    keeps every line (a pattern like ``grep -E 'inbound-vip|8000|…'`` that matches more than the runbook
    filtered, or less, fails here)."""
    import subprocess

    seen = 0
    for notebook, step, grep, command, output in _grep_pipelines():
        if not output or any(flag in grep for flag in ("-c", "-l", "-o", "-n")):
            continue
        kept = subprocess.run(grep, input=output, capture_output=True, text=True, timeout=10).stdout
        assert kept == output, f"{notebook} {step}: {command}\nshown:\n{output}\ngrep keeps:\n{kept}"
        seen += 1
    assert seen >= 10  # the guide's and the labs' access-log and /clusters pipelines
