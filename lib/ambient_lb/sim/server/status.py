"""Status objects: how the API server says no, with the reasons and messages a real apiserver uses.

Who calls it: every handler in ``sim/server`` raises ``ApiError`` (or one of the helpers below);
the application's error middleware turns it into a ``Status`` JSON body with the HTTP code. kubectl
prints ``Error from server (<reason>): <message>``; the kubernetes client raises ``ApiException``
with ``e.status`` and ``e.reason`` taken from it.
"""

from __future__ import annotations

from typing import Any

from ..resources import ResourceType

# reason -> HTTP code (k8s.io/apimachinery/pkg/api/errors)
CODES: dict[str, int] = {
    "BadRequest": 400, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404,
    "MethodNotAllowed": 405, "NotAcceptable": 406, "AlreadyExists": 409, "Conflict": 409,
    "Expired": 410, "RequestEntityTooLarge": 413, "UnsupportedMediaType": 415, "Invalid": 422,
    "InternalError": 500, "ServiceUnavailable": 503,
}


class ApiError(Exception):
    """An error answered as a ``Status``: ``raise ApiError("NotFound", 'pods "x" not found')``."""

    def __init__(self, reason: str, message: str, *, details: dict[str, Any] | None = None,
                 code: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details
        self.code = code or CODES.get(reason, 500)

    def status(self) -> dict[str, Any]:
        """The error as a ``Status`` object of status Failure."""
        return status_body("Failure", message=self.message, reason=self.reason, details=self.details,
                           code=self.code)


def status_body(status: str, *, message: str = "", reason: str = "", details: dict[str, Any] | None = None,
                code: int = 0) -> dict[str, Any]:
    """A ``metav1.Status`` with its fields in the Go struct's order and its empty fields left out
    (``omitempty``), as the API server serializes it (R16.8): kind, apiVersion, metadata, status,
    message, reason, details, code."""
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status}
    for key, value in (("message", message), ("reason", reason), ("details", details), ("code", code)):
        if value or key == "details" and value is not None:  # an empty StatusDetails is still written: {}
            out[key] = value
    return out


def _details(rt: ResourceType | None, name: str | None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if rt is not None:
        if rt.group:
            d["group"] = rt.group
        d["kind"] = rt.resource
    d.update(extra)
    return d


def qualified(rt: ResourceType) -> str:
    """``pods`` or ``deployments.apps``: how messages name a resource."""
    return f"{rt.resource}.{rt.group}" if rt.group else rt.resource


def not_found(rt: ResourceType, name: str) -> ApiError:
    """404: the named object of this resource type does not exist."""
    return ApiError("NotFound", f'{qualified(rt)} "{name}" not found', details=_details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    """409: an object of this resource type with this name already exists."""
    return ApiError("AlreadyExists", f'{qualified(rt)} "{name}" already exists',
                    details=_details(rt, name))


def conflict(rt: ResourceType, name: str, why: str = "the object has been modified; please apply "
             "your changes to the latest version and try again") -> ApiError:
    """409: the write conflicts with the stored object (by default: a stale resourceVersion)."""
    return ApiError("Conflict", f'Operation cannot be fulfilled on {qualified(rt)} "{name}": {why}',
                    details=_details(rt, name))


def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; ``causes`` are (reason e.g. FieldValueInvalid, field path, message)."""
    text = "; ".join(f"{field}: {msg}" for _, field, msg in causes)
    items = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    if len(causes) > 1:
        text = "[" + ", ".join(f"{f}: {m}" for _, f, m in causes) + "]"
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind  # NewInvalid names the qualified kind
    return ApiError("Invalid", f'{kind} "{name}" is invalid: {text}',
                    details=_details(rt, name, kind=rt.kind, causes=items))


def bad_request(message: str) -> ApiError:
    """400 with this message."""
    return ApiError("BadRequest", message)


def path_not_found() -> ApiError:
    """404 for a path the server does not serve."""
    return ApiError("NotFound", "the server could not find the requested resource",
                    details={"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def method_not_allowed(method: str, what: str) -> ApiError:
    """405: the method is not allowed on this resource."""
    return ApiError("MethodNotAllowed", f"the server does not allow this method on the requested "
                    f"resource ({method} {what})")


def unsupported_media_type(content_type: str, hint: str = "") -> ApiError:
    """415: the body's Content-Type is not one the server reads."""
    msg = f'the body of the request was in an unknown format - accepted media types include: ' \
          f'application/json, application/yaml{hint}; got "{content_type}"'
    return ApiError("UnsupportedMediaType", msg)


def success(rt: ResourceType, name: str, uid: str | None = None) -> dict[str, Any]:
    """The ``Status`` a DELETE answers when the object went at once and its storage does not return
    deleted objects (``finalizeDelete``, R16.1): details name the resource (plural) as ``kind``."""
    return status_body("Success", details=_details(rt, name, **({"uid": uid} if uid else {})))
