"""Errors the pure model raises when it is handed something the real system would refuse.

Who calls it: ``destinationrule`` (a DR spec Istio would reject), ``locality`` (a bad mode or
version), ``envoy_cluster`` (a host list with duplicates). The integrator turns them into API
status messages or controller log lines. Every message names the field, what was wrong and an
example of a good value.

    ModelError (ValueError)
    ├── InvalidDestinationRule   a DR field Istio's validation would reject
    └── InvalidModelInput        a host list, locality or version the model cannot use
"""

from __future__ import annotations


class ModelError(ValueError):
    """Base of the data-plane model's errors."""


class InvalidDestinationRule(ModelError):
    """A DestinationRule field has a value Istio's validation would reject."""

    def __init__(self, field: str, value: object, why: str, example: str) -> None:
        super().__init__(f"DestinationRule {field}={value!r}: {why}; for example {example}")
        self.field = field


class InvalidModelInput(ModelError):
    """The caller handed the model something it cannot use (a programming error in the integrator)."""
