"""workshop.py: a room of attendees, each with their own simulator, bounded parallelism, one report."""

from __future__ import annotations

import argparse
import json

import pytest

from ambient_lb import cli
from ambient_lb.errors import ParameterError
from ambient_lb.workshop import attendees_from

pytestmark = pytest.mark.notebooks


def test_each_attendee_gets_a_private_simulator_and_seed(tmp_path):
    args = argparse.Namespace(attendees=3, contexts=None)
    people = attendees_from(args, tmp_path)
    assert [a.name for a in people] == ["attendee-01", "attendee-02", "attendee-03"]
    assert len({a.kubeconfig for a in people}) == 3
    assert people[1].overrides[2] == "sim.seed=2"


def test_contexts_become_cluster_attendees():
    people = attendees_from(argparse.Namespace(attendees=None, contexts="kind-a, kind-b"), None)
    assert [a.overrides for a in people] == [["target=cluster", "kube.context=kind-a"],
                                             ["target=cluster", "kube.context=kind-b"]]


@pytest.mark.parametrize("attendees,contexts,match", [(0, None, "--attendees 0"),
                                                      (None, " , ", "--contexts")])
def test_bad_room_sizes_are_refused(attendees, contexts, match):
    with pytest.raises(ParameterError, match=match):
        attendees_from(argparse.Namespace(attendees=attendees, contexts=contexts), None)


def test_two_attendees_run_notebook_00_in_parallel_and_get_one_report(tmp_path, capsys):
    out = tmp_path / "room"
    code = cli.main(["workshop", "--attendees", "2", "--parallel", "2", "--only", "00",
                     "--out", str(out), "-p", "sim.speed=10"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "2 of 2 runs passed; 0 stuck" in printed
    for name in ("attendee-01", "attendee-02"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["ok"] and summary["notebooks"][0]["name"] == "00-prerequisites"
        assert not (out / name / "sim" / ".kubeconfig.sim" / "state.json").exists()  # stopped
    assert "attendee-02" in (out / "report.html").read_text()
