"""Fixtures for the security checks: an API server alone (no controllers) on 127.0.0.1 with TLS and a
token, and an HTTPS connection pool to it that trusts its certificate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urllib3

from ambient_lb.sim.process import Simulator, running_simulator


@pytest.fixture(scope="module")
def bare_sim() -> Iterator[Simulator]:
    with running_simulator(seed=5, speed=50, bare=True) as sim:
        yield sim


def https_pool(sim: Simulator) -> urllib3.HTTPSConnectionPool:
    assert sim.ca_pem is not None
    return urllib3.HTTPSConnectionPool("127.0.0.1", sim.port, cert_reqs="CERT_REQUIRED",
                                       ca_cert_data=sim.ca_pem.decode(), assert_hostname=False,
                                       maxsize=1, timeout=urllib3.Timeout(connect=5, read=10))


@pytest.fixture(scope="module")
def pool(bare_sim: Simulator) -> urllib3.HTTPSConnectionPool:
    return https_pool(bare_sim)
