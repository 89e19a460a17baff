"""The simulator's patch engines: JSON patch, merge patch, strategic merge patch, server-side apply.

Who calls it: the API server (``sim/server/patching.py`` and ``writes.py``), which picks an engine
by the request's Content-Type (research: kubernetes-api-surface §2.7) and turns the errors below
into ``Status`` answers. Every function here is pure: it returns a new object and never mutates
its inputs.

    apply_json_patch(obj, ops)                      application/json-patch+json (RFC 6902)
    apply_merge_patch(obj, patch)                   application/merge-patch+json (RFC 7386)
    apply_strategic_merge_patch(obj, patch, gvk)    application/strategic-merge-patch+json
    server_side_apply(live, applied, manager, force=, now=)   application/apply-patch+yaml
    record_update(old, new, manager, operation, now)          managedFields for other writes
"""

from __future__ import annotations

from .errors import ApplyConflict, PatchError, UnsupportedPatch
from .jsonpatch import apply_json_patch
from .mergepatch import apply_merge_patch
from .ssa import record_update, server_side_apply
from .strategic import apply_strategic_merge_patch

__all__ = [
    "ApplyConflict", "PatchError", "UnsupportedPatch", "apply_json_patch", "apply_merge_patch",
    "apply_strategic_merge_patch", "record_update", "server_side_apply",
]
