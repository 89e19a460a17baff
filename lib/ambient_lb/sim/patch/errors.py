"""Why a patch or an apply could not be carried out; the API server turns each into a ``Status``.

Who calls it: every engine in this package raises these; ``sim/server/patching.py`` maps them:

    PatchError           a malformed patch, a failed ``test`` op, a bad directive  -> 422 Invalid
    ├── UnsupportedPatch strategic merge patch for a kind without SMP metadata (CRs) -> 415
    ApplyConflict        server-side apply would change fields another manager owns -> 409 Conflict
"""

from __future__ import annotations

from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied; the message names the operation or path and what to send instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedPatch(PatchError):
    """Strategic merge patch asked for a kind the merge-key table does not describe (e.g. a CR)."""


class ApplyConflict(Exception):
    """Server-side apply would take fields owned by other managers; ``force=True`` takes them.

    Attributes:
        conflicts: ``(manager, field path)`` pairs, e.g. ``("kubectl-scale", ".spec.replicas")``.
        managers: the same pairs with the manager printed the way the apiserver prints it, e.g.
            ``('"kubectl-scale" using apps/v1', ".spec.replicas")``.
        message: the apiserver's text, e.g. ``Apply failed with 1 conflict: conflict with
            "kubectl-scale" using apps/v1: .spec.replicas``.
    """

    def __init__(self, conflicts: list[tuple[str, str]], managers: list[tuple[str, str]] | None = None) -> None:
        self.conflicts = list(conflicts)
        self.managers = list(managers) if managers is not None else [(f'"{m}"', p) for m, p in conflicts]
        self.message = conflict_message(self.managers)
        super().__init__(self.message)

    def causes(self) -> list[dict[str, Any]]:
        """``details.causes`` of the 409 Status, one per conflicting field."""
        return [{"reason": "FieldManagerConflict", "message": f"conflict with {m}", "field": p}
                for m, p in self.managers]


def conflict_message(managers: list[tuple[str, str]]) -> str:
    """The apiserver's message: one conflict inline, several grouped by manager (sorted)."""
    if len(managers) == 1:
        m, p = managers[0]
        return f"Apply failed with 1 conflict: conflict with {m}: {p}"
    by_manager: dict[str, list[str]] = {}
    for m, p in managers:
        by_manager.setdefault(m, []).append(p)
    lines: list[str] = []
    for m in sorted(by_manager):
        lines.append(f"conflicts with {m}:")
        lines.extend(f"- {p}" for p in by_manager[m])
    return f"Apply failed with {len(managers)} conflicts: " + "\n".join(lines)
