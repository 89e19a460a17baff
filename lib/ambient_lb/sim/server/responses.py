"""A JSON answer as the API server writes it: the one helper every handler and middleware shares.

Who calls it: ``state`` (which re-exports it for the handlers) and ``api_faults``; kept apart so the
drill middleware does not import the server's state (no import cycle).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import encoding


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer, indented when the request asked to be pretty-printed (``encoding.PRETTY``)."""
    return web.Response(body=encoding.body(obj), status=status, content_type="application/json", headers=headers)
