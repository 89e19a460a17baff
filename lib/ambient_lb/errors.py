"""Every error the runbook raises, in one tree; each message says what to do next.

    RunbookError
    ├── ParameterError        a params file, key or CLI value is wrong (names file, key, value, example)
    ├── ToolMissing           kubectl / helm / jupyter is not installed (how to install it)
    ├── ClusterError          a command or API call failed (argv as displayed, exit code, stderr tail)
    │   ├── NotFound          an object the step needs is not there ("Gateway http in kgateway-system")
    │   ├── ContextMismatch   a destructive call would hit a context other than the one in params
    │   └── TimedOut          a wait ran out (what it waited for, the last condition seen)
    ├── SimulatorError        the cluster-in-a-box could not start, or is not running
    └── CheckFailed           a live check did not pass (guide step, expected vs observed, hint)

Causes are chained with ``raise … from exc``. ``exit_code`` is what ``ambient-lb`` exits with.
"""

from __future__ import annotations


class RunbookError(Exception):
    exit_code = 1


class ParameterError(RunbookError, ValueError):
    exit_code = 2


class ToolMissing(RunbookError):
    exit_code = 3


class ClusterError(RunbookError):
    pass


class NotFound(ClusterError):
    pass


class ContextMismatch(ClusterError):
    exit_code = 2


class TimedOut(ClusterError):
    pass


class SimulatorError(RunbookError):
    pass


class CheckFailed(RunbookError):
    pass
