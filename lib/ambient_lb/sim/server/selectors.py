"""The ``labelSelector`` and ``fieldSelector`` query parameters, as one predicate over objects.

Who calls it: ``rest.py`` (list, deletecollection) and ``watch.py`` (which also uses the predicate to
turn selector transitions into ADDED/DELETED). The grammar and the matching are ``sim/selectors.py``
(R18); here a selector the API server cannot parse becomes 400 BadRequest, with the apimachinery
message, the selector, and an example of a good one.
"""

from __future__ import annotations

from .. import selectors
from ..selectors import Predicate, combine
from .status import ApiError

__all__ = ["Predicate", "combine", "field_selector", "label_selector"]


def label_selector(text: str | None) -> Predicate | None:
    """A predicate over objects (their ``metadata.labels``), or None when there is no selector."""
    try:
        return selectors.label_predicate(text)
    except selectors.SelectorError as exc:
        raise ApiError("BadRequest", f'{exc} in label selector "{text}"; {selectors.EXAMPLE}') from None


def field_selector(text: str | None, kind: str) -> Predicate | None:
    """A predicate for ``fieldSelector``; an unsupported field is a 400 naming the supported ones."""
    try:
        return selectors.field_predicate(text, kind)
    except selectors.SelectorError as exc:
        raise ApiError("BadRequest", str(exc)) from None
