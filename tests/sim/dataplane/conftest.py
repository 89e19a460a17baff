"""Fixtures for the data-plane tests: a running simulator and the guide carried out to step 2.

``guide`` is the guide up to the end of step 2 (Gateway API CRDs, both chart stand-ins, the ambient
label on kgateway-system, Gateway ``http``, the in-ambient sample scaled to 3, the HTTPRoute).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dataplane_helpers import SPEED, Guide

from ambient_lb.sim.process import Simulator, running_simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running_simulator(seed=7, speed=SPEED) as s:
        yield s


@pytest.fixture
def guide(sim: Simulator) -> Guide:
    g = Guide(sim)
    g.install()
    return g
