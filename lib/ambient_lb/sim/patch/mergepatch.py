"""RFC 7386 JSON Merge Patch: objects merge key by key, ``null`` deletes, anything else replaces.

Who calls it: the API server for ``application/merge-patch+json`` bodies, which is what kubectl
sends for ``label``, ``annotate``, ``scale`` and client-side ``apply`` of custom resources
(research: kubernetes-api-surface §2.7). Lists are replaced whole. Inputs are never mutated.
"""

from __future__ import annotations

from typing import Any

from .errors import PatchError
from .values import jcopy


def apply_merge_patch(obj: dict, patch: dict) -> dict:
    """``obj`` merged with ``patch`` per RFC 7386."""
    if not isinstance(patch, dict):
        raise PatchError('a merge patch must be a JSON object, e.g. {"metadata": {"labels": {"app": "web"}}}')
    return _merge(obj, patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return jcopy(patch)
    out = jcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out
