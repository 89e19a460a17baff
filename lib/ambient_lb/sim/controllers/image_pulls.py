"""The kubelet's image manager for an image that cannot be pulled: its events, the container's waiting
state, and the back-off (R14.12).

Who calls it: ``kubelet.py``. Whether a pull fails is the registry model's to say (``containers.pull``,
R14.11); this module is what the kubelet does about it, as ``pkg/kubelet/images/image_manager.go``
(1.32) and ``kuberuntime_container.go`` (``startContainer``) do. Each pod sync, per waiting container:

    the image back-off          what the kubelet does (events from "kubelet", the container's fieldPath)
    ------------------------    ------------------------------------------------------------------------
    over (or never started)     Normal Pulling ``Pulling image "<image>"``; on failure Warning Failed
                                ``Failed to pull image "<image>": <error>``, Warning Failed
                                ``Error: ErrImagePull``, the back-off doubles (10 s … 5 min), waiting
                                ``ErrImagePull`` with the error as message; on success the container starts
    running                     Normal BackOff ``Back-off pulling image "<image>"``, Warning Failed
                                ``Error: ImagePullBackOff``, waiting ``ImagePullBackOff`` with message
                                ``Back-off pulling image "<image>": ErrImagePull: <error>``
    pull policy ``Never``       Warning ErrImageNeverPull ``Container image "<image>" is not present
                                with pull policy of Never``, Warning Failed ``Error: ErrImageNeverPull``

The pod is synced again 1 s after the first failure (the PLEG relist sees the new sandbox) and then
every 10 s (the pod worker's back-off after a failed sync; its 0–50 % jitter is left out) [model].
"""

from __future__ import annotations

from dataclasses import dataclass

from .containers import PullError

IMAGE_BACKOFF_START, IMAGE_BACKOFF_MAX = 10.0, 300.0  # imageBackOffPeriod, MaxContainerBackOff (kubelet.go)
FIRST_SYNC = 1.0  # s: plegRelistPeriod
SYNC_RETRY = 10.0  # s: backOffPeriod, the pod worker's wait after a sync that failed


@dataclass
class ImagePull:
    """One container waiting for its image: the image tried, its last error, and the back-off
    (``flowcontrol.Backoff`` keyed by pod UID and image: a new image starts afresh)."""

    image: str
    error: PullError
    backoff: float = 0.0
    last: float = 0.0

    def failed(self, now: float, error: PullError) -> None:
        """A pull failed at ``now``: the back-off starts at 10 s, or doubles (at most 5 min)."""
        self.error, self.last = error, now
        self.backoff = min(IMAGE_BACKOFF_MAX, 2 * self.backoff) if self.backoff else IMAGE_BACKOFF_START

    def in_back_off(self, now: float) -> bool:
        """Whether a sync at ``now`` must not pull (``IsInBackOffSinceUpdate``)."""
        return now - self.last < self.backoff


def pulling(image: str) -> str:
    """The ``Pulling`` event's message."""
    return f'Pulling image "{image}"'


def failed(image: str, error: PullError) -> str:
    """The first ``Failed`` event's message (the second one is ``Error: ErrImagePull``)."""
    return f'Failed to pull image "{image}": {error.message}'


def back_off(image: str) -> str:
    """The ``BackOff`` event's message."""
    return f'Back-off pulling image "{image}"'


def back_off_message(image: str, error: PullError) -> str:
    """The waiting message during back-off: since 1.32 it carries the last pull's error (PR 127918)."""
    return f"{back_off(image)}: ErrImagePull: {error.message}"


def never_pull(image: str) -> str:
    """The ``ErrImageNeverPull`` event's message, and the waiting message."""
    return f'Container image "{image}" is not present with pull policy of Never'
