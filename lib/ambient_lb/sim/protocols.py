"""What the simulator's parts use of the cluster they run in: the cluster, its object store and its clock.

Who calls it: the controllers (``sim/controllers``), the apps and objects helpers of the mesh
(``sim/mesh``) and the API server's RBAC, defaulting and watch code (``sim/server``) take these
Protocols instead of the concrete classes, so each says what it relies on and a test may hand it a
stand-in. The concrete classes satisfy them structurally: mypy checks that at the end of this module,
and wherever the mesh passes its ``Cluster`` to a helper typed with ``SimCluster``. (``cluster.Controller``
asks for a ``start`` that takes a ``Cluster``, which a ``start(cluster: SimCluster)`` accepts.)

| Protocol | what it promises | the concrete class |
| --- | --- | --- |
| ``Clock`` (``clock.py``) | ``now()``, ``call_later(delay, fn, *args)``, ``speed`` | ``ScaledClock``, ``ManualClock`` |
| ``ObjectReader`` | ``get`` and ``list`` | ``store.Store`` |
| ``ObjectStore`` | the reads plus the writes, ``subscribe`` and the history | ``store.Store`` |
| ``SimCluster`` | clock, store, registry, logs, seeded rng, extensions, hooks | ``cluster.Cluster`` |

``Clock`` lives in ``clock.py`` (the data-plane model may import only the clock) and is re-exported
here. The members are read-only properties where the concrete class has an attribute: a caller reads
them, and the concrete type may be narrower (``Cluster.store`` is a ``Store``).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .clock import Clock, Timer
from .podlogs import PodLogs
from .resources import Registry
from .store import GR, Event, Obj

__all__ = ["Clock", "ObjectReader", "ObjectStore", "SimCluster", "Timer"]


class ObjectReader(Protocol):
    """The reads of the object store: one object, or the objects of a type."""

    def get(self, gr: GR, namespace: str | None, name: str) -> Obj | None:
        """The stored object, or None."""

    def list(self, gr: GR, namespace: str | None = None,
             where: Callable[[Obj], bool] | None = None) -> list[Obj]:
        """The objects of a type (in a namespace, if given; those ``where`` accepts), by namespace and name."""


class ObjectStore(ObjectReader, Protocol):
    """The object store: reads, writes, change listeners and the change history (``store.Store``)."""

    @property
    def resource_version(self) -> int:
        """The resourceVersion of the last change."""

    @property
    def rng(self) -> random.Random:
        """The store's seeded random numbers (uids, generated names)."""

    def types(self) -> Iterable[GR]:
        """The group/resources that have had objects."""

    def events_since(self, rv: int) -> list[Event]:
        """The changes after resourceVersion rv; ``store.Expired`` when the history no longer reaches back."""

    def new_uid(self) -> str:
        """A new random uid."""

    def create(self, gr: GR, obj: Obj) -> Obj:
        """Stores a new object; ``store.StoreError`` (AlreadyExists) when it exists."""

    def update(self, gr: GR, obj: Obj, *, check_rv: bool = False) -> Obj:
        """Replaces a stored object; ``store.StoreError`` when it is gone (or stale, with check_rv)."""

    def mutate(self, gr: GR, namespace: str | None, name: str, fn: Callable[[Obj], Any]) -> Obj | None:
        """Lets fn edit a copy of the object and stores it; None when the object is gone."""

    def remove(self, gr: GR, namespace: str | None, name: str) -> Obj | None:
        """Deletes the object for good; the object as it was, or None."""

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        """Calls fn with every change; returns a function that unsubscribes."""

    def __iter__(self) -> Iterator[tuple[GR, Obj]]:
        """Every stored object with its group/resource."""


class SimCluster(Protocol):
    """One simulated cluster as its controllers see it (``cluster.Cluster``)."""

    @property
    def name(self) -> str:
        """The cluster's name (the kube context names it)."""

    @property
    def seed(self) -> int:
        """The seed every random draw of the cluster derives from."""

    @property
    def rng(self) -> random.Random:
        """The cluster's seeded random numbers."""

    @property
    def clock(self) -> Clock:
        """Simulated time."""

    @property
    def store(self) -> ObjectStore:
        """Every API object."""

    @property
    def registry(self) -> Registry:
        """The resource types the API server serves."""

    @property
    def logs(self) -> PodLogs:
        """Every container's log."""

    @property
    def topology(self) -> Any:
        """The cluster's nodes and zones (``topology.ClusterTopology``), or None for the default."""

    @property
    def strict(self) -> bool:
        """True when the simulator refuses its own conveniences (fault annotations are ignored)."""

    @property
    def extensions(self) -> dict[str, Any]:
        """Where controllers and the data plane hang their state, by name (``kubelet``, ``apps``, ...)."""

    @property
    def on_start(self) -> list[Callable[[], Awaitable[None]]]:
        """Coroutines the server runs once its event loop is up."""

    @property
    def on_stop(self) -> list[Callable[[], Awaitable[None]]]:
        """Coroutines the server runs before it stops."""

    def gr(self, kind: str, group: str | None = None) -> GR:
        """The group/resource of a kind; KeyError when no resource type has it."""


if TYPE_CHECKING:  # mypy checks here that the concrete classes keep these promises
    from .clock import ManualClock, ScaledClock
    from .cluster import Cluster
    from .store import Store

    _cluster: type[SimCluster] = Cluster
    _store: type[ObjectStore] = Store
    _clocks: tuple[type[Clock], ...] = (ScaledClock, ManualClock)
