"""Types of the compiled line scanner (``_logscan.c``), an optional C extension built at install time.

``ambient_lb.logs.scanner`` loads it and reads its results (tuples of buffers and column specs).
"""

from typing import Any

ABI: int

def scan_envoy(block: Any, max_lines: int = ..., /) -> tuple[Any, ...]:
    """(line ends, line status, rows, columns, prefix columns) of the Envoy access lines of a block."""

def scan_ztunnel(block: Any, max_lines: int = ..., /) -> tuple[Any, ...]:
    """(line ends, line status, rows, fixed columns, key columns, prefix columns) of a block's ztunnel lines."""
