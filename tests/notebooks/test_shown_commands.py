"""What the notebooks show is what a person types and what that command prints.

The curl loops: ``curl_line`` is the command shown, ``curl_output`` what it prints for the requests
the runbook really sent (``curl -s`` adds no newline after a body; ``-w '%{http_code}\\n'`` prints
``000`` when no response came; ``|| echo 'request failed'`` prints only on a transport error).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

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
