"""Suite-wide safety net: every simulator a test starts as a separate process (``sim up`` from a test,
a notebook kernel or the runner) stops when this pytest process exits, even if the test that started
it was killed before its teardown (``AMBIENT_LB_SIM_EXIT_WITH_PID``, read by ``sim.process``)."""

from __future__ import annotations

import os

from ambient_lb.sim.process import EXIT_WITH_PID_ENV

os.environ.setdefault(EXIT_WITH_PID_ENV, str(os.getpid()))
