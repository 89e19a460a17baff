"""Run the cluster-in-a-box from code: the entry points, gathered in one place.

The work is split by concern; this module re-exports what callers use so they need one import:

| module | what |
| --- | --- |
| ``kubeconfig`` | the default kubeconfig and context, writing a kubeconfig (0600) |
| ``in_process`` | ``running_simulator``: the server in a background thread (tests, library use), ``Simulator`` |
| ``daemon`` | ``start_background`` / ``stop_background`` (``sim up`` / ``sim down``), ``running_simulator_process`` |
| ``cli`` | ``ambient-lb sim up | down | status`` (``add_arguments``, ``main``) |
"""

from __future__ import annotations

from .cli import add_arguments, main
from .daemon import EXIT_WITH_PID_ENV, READY_TIMEOUT, running_simulator_process, start_background, stop_background
from .in_process import Simulator, running_simulator, start_server, start_servers
from .kubeconfig import CONTEXT, DEFAULT_KUBECONFIG, context_name, kubeconfig_text

__all__ = ["CONTEXT", "DEFAULT_KUBECONFIG", "EXIT_WITH_PID_ENV", "READY_TIMEOUT", "Simulator", "add_arguments",
           "context_name", "kubeconfig_text", "main", "running_simulator", "running_simulator_process",
           "start_background", "start_server", "start_servers", "stop_background"]
