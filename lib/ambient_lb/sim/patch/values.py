"""A fast deep copy for JSON-shaped values (dicts, lists, scalars).

Who calls it: every engine in this package, which must never mutate its inputs. ``copy.deepcopy``
spends most of its time on memo bookkeeping that JSON trees do not need; on an 800 KB CRD this
copy is several times faster.
"""

from __future__ import annotations

from typing import Any


def jcopy(value: Any) -> Any:
    """A deep copy of a JSON-shaped value; anything else is shared, as it is immutable here."""
    if isinstance(value, dict):
        return {k: jcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jcopy(v) for v in value]
    return value
