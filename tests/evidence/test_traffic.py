"""traffic: requests through a (fake) gateway become rows; errors are data; the sampler stops cleanly."""

from __future__ import annotations

import re
import threading

import pandas as pd
import pytest

from ambient_lb.errors import ParameterError, TimedOut
from ambient_lb.traffic import ROW_COLUMNS, TrafficSampler, parse_address, pod_from_body, send_requests

from .conftest import PODS


def test_sequential_requests_name_the_answering_pods_in_order(gateway):
    rows = send_requests(gateway.address, host="httpbin.example.com", count=6)
    assert list(rows.columns) == list(ROW_COLUMNS)
    assert rows["seq"].tolist() == list(range(6))
    assert rows["status"].tolist() == [200] * 6
    assert rows["pod"].tolist() == list(PODS) * 2
    assert rows["error"].isna().all() and (rows["latency_ms"] > 0).all()
    assert gateway.hosts == ["httpbin.example.com"] * 6
    assert str(rows["sent_at"].dtype) == "datetime64[ns, UTC]" and rows["t"].is_monotonic_increasing


def test_bounded_concurrency_sends_all_requests(gateway):
    rows = send_requests(f"http://{gateway.address}", host="httpbin.example.com", count=12, concurrency=4)
    assert rows["seq"].tolist() == list(range(12))
    assert sorted(rows["pod"].value_counts().tolist()) == [4, 4, 4]


def test_plain_text_body_names_the_pod(gateway):
    rows = send_requests(gateway.address, host="h", path="/plain", count=1)
    assert rows.loc[0, "pod"] == PODS[0]


def test_503_is_a_status_not_an_error_and_its_body_is_kept(gateway):
    rows = send_requests(gateway.address, host="h", path="/status/503", count=2)
    assert rows["status"].tolist() == [503, 503]
    assert rows["pod"].isna().all() and rows["error"].isna().all()
    assert rows["detail"].tolist() == ["no healthy upstream"] * 2


def test_timeout_is_a_row_with_error_timeout(gateway):
    rows = send_requests(gateway.address, host="h", path="/slow", count=1, timeout=0.3)
    assert rows.loc[0, "error"] == "timeout" and pd.isna(rows.loc[0, "status"])
    assert rows.loc[0, "latency_ms"] >= 250


def test_refused_connection_is_a_row_with_error_refused(closed_port):
    rows = send_requests(f"127.0.0.1:{closed_port}", host="h", count=2)
    assert rows["error"].tolist() == ["refused", "refused"]
    assert rows["status"].isna().all() and rows["pod"].isna().all()


def test_dropped_connection_is_a_row_with_error_reset(gateway):
    rows = send_requests(gateway.address, host="h", path="/drop", count=1)
    assert rows.loc[0, "error"] == "reset"


def test_unresolvable_name_is_a_row_with_error_dns():
    rows = send_requests("no-such-host.invalid:8080", host="h", count=1, timeout=5)
    assert rows.loc[0, "error"] == "dns"


@pytest.mark.parametrize(
    "address, kwargs, message",
    [
        ("", {}, "gateway address must be host:port or a URL"),
        ("ftp://x:21", {}, "is not host:port or an http(s) URL"),
        ("localhost:http", {}, "has a bad port"),
        ("localhost:8080", {"path": "hostname"}, "path must start with '/'"),
        ("localhost:8080", {"host": "a b"}, "Host header must be a host name"),
    ],
)
def test_bad_addresses_name_the_problem_and_an_example(address, kwargs, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        parse_address(address, **{"host": "httpbin.example.com", **kwargs})


def test_bad_counts_are_rejected_before_sending():
    with pytest.raises(ParameterError, match="count must be a whole number"):
        send_requests("localhost:1", host="h", count=-1)
    with pytest.raises(ParameterError, match="concurrency must be"):
        send_requests("localhost:1", host="h", count=1, concurrency=0)


def test_parse_address_defaults():
    t = parse_address("10.96.1.2", host="httpbin.example.com")
    assert (t.scheme, t.address, t.port, t.path, t.url) == ("http", "10.96.1.2", 80, "/hostname", "http://10.96.1.2:80/hostname")


@pytest.mark.parametrize(
    "body, pod",
    [(b'{"hostname": "in-ambient-1"}\n', "in-ambient-1"), (b"in-ambient-2\n", "in-ambient-2"),
     (b"no healthy upstream", None), (b"{broken", None), (b'{"hostname": 3}', None), (b"", None)],
)  # fmt: skip
def test_pod_from_body(body, pod):
    assert pod_from_body(body) == pod


def test_sampler_sends_at_rate_records_marks_and_stops_its_threads(gateway):
    before = {t.ident for t in threading.enumerate()}
    with TrafficSampler(gateway.address, host="httpbin.example.com", rate=50) as sampler:
        sampler.wait_for_rows(10, timeout=10)
        t_mark = sampler.mark("pod deleted")
        sampler.wait_for_rows(20, timeout=10)
    timeline = sampler.timeline()
    assert len(timeline) >= 20 and timeline["seq"].tolist() == list(range(len(timeline)))
    assert set(timeline["pod"]) == set(PODS) and timeline["error"].isna().all()
    assert timeline.attrs["marks"][0]["label"] == "pod deleted" and timeline.attrs["marks"][0]["t"] == t_mark
    # fixed rate: request k is never sent before its slot k / rate (a schedule property, not a timing one)
    assert (timeline["t"] >= timeline["seq"] / 50 - 1e-6).all()
    assert {t.ident for t in threading.enumerate()} <= before


def test_sampler_cannot_start_twice_and_rejects_bad_rates(gateway):
    with pytest.raises(ParameterError, match="rate must be between"):
        TrafficSampler(gateway.address, host="h", rate=0)
    sampler = TrafficSampler(gateway.address, host="h", rate=5).start()
    with pytest.raises(RuntimeError, match="already started"):
        sampler.start()
    sampler.stop()


def test_sampler_wait_times_out_with_a_hint(closed_port):
    with TrafficSampler(f"127.0.0.1:{closed_port}", host="h", rate=1) as sampler:
        with pytest.raises(TimedOut, match="completed 1 of 50 requests|completed 0 of 50 requests"):
            sampler.wait_for_rows(50, timeout=0.2)


def test_zero_requests_give_an_empty_frame_with_the_columns(gateway):
    rows = send_requests(gateway.address, host="h", count=0)
    assert list(rows.columns) == list(ROW_COLUMNS) and len(rows) == 0


def test_progress_bar_counts_requests(gateway, capsys):
    rows = send_requests(gateway.address, host="h", count=3, progress=True)
    assert len(rows) == 3
    err = capsys.readouterr().err
    assert "requests:" in err and "/3 " in err
