"""Which image references a node cannot pull, and what containerd says about them (R14.11, R14.12).

Who calls it: ``runtime.AppRuntime.pull`` when the kubelet pulls a container's image. The simulator
reaches no registry, so the outcome is read from the reference by this table (first match wins):

    the reference                                   what the pull gives
    ----------------------------------------------  ---------------------------------------------------
    registry host under .invalid, .test, .example   DNS: ``dial tcp: lookup <host> on <dns>:53: no such
                                                    host`` (the TLDs are never delegated, RFC 2606/6761)
    a modelled repository (``registry.lookup``)     NotFound: ``<ref>: not found`` (its tag is not one
    whose tag is not one of its tags (``TAGS``)     the image is published with)
    anything else                                   pulled (as before: it runs, R14.1)

A tag "is one of its tags" when it is ``latest``, one of the family's named tags, or a version of the
family's major line, each optionally followed by a variant (``-alpine``, ``-slim``; the variant is not
checked). A digest is not judged (the simulator cannot know an image's digests). Unmodelled images
always pull: the simulator does not know their tags.
"""

from __future__ import annotations

import ipaddress
import re

from ...controllers.containers import PullError
from .base import ImageRef
from .registry import lookup

#: RFC 2606 §2 (``.test``, ``.example``, ``.invalid``) and RFC 6761 §6.2, §6.4: never delegated in the
#: root zone, so a lookup of any name under them is NXDOMAIN. (``.localhost`` is not here: Go's
#: resolver may answer it with loopback, which is another failure.)
RESERVED_TLDS = ("invalid", "test", "example")
_VARIANT = r"(-[a-z0-9][a-z0-9._-]*)?"

#: image (the repository's last path element) -> (its versions, its named tags) [model]
TAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "go-httpbin": (r"v2\.\d+\.\d+", ()),
    "nginx": (r"1(\.\d+){0,2}", ("stable", "mainline", "alpine", "alpine-slim", "perl", "bookworm", "trixie")),
    "nginx-unprivileged": (r"1(\.\d+){0,2}", ("stable", "mainline", "alpine", "alpine-slim", "perl")),
    "busybox": (r"1(\.\d+){0,2}", ("stable", "musl", "glibc", "uclibc")),
    "alpine": (r"3(\.\d+){0,2}", ("edge",)),
    "bash": (r"[345](\.\d+){0,2}", ("devel", "alpine")),
    "debian": (r"\d{1,2}(\.\d+)?", ("stable", "testing", "unstable", "sid", "oldstable", "bookworm", "trixie",
                                    "bullseye", "buster", "experimental")),
    "ubuntu": (r"\d{2}\.\d{2}", ("rolling", "devel", "noble", "jammy", "focal", "oracular", "plucky")),
    "perl": (r"5(\.\d+){0,2}", ("stable", "slim", "threaded")),
}


def has_tag(ref: ImageRef) -> bool:
    """Whether the repository publishes ``ref.tag`` (True for images not in ``TAGS``)."""
    family = TAGS.get(ref.path.rsplit("/", 1)[-1])
    if family is None or not ref.tag:
        return True
    versions, named = family
    lead = "|".join(["latest", versions, *map(re.escape, named)])
    return re.fullmatch(f"({lead}){_VARIANT}", ref.tag) is not None


def normalized(ref: ImageRef) -> str:
    """containerd's name for the reference: registry and ``library/`` spelled out, ``latest`` when
    untagged, and the tag dropped when a digest pins it (``reference.ParseDockerRef``)."""
    if ref.digest:
        return f"{ref.repository}@{ref.digest}"
    return f"{ref.repository}:{ref.tag or 'latest'}"


def resolver(node_ip: str) -> str:
    """The node's DNS server: the gateway of its (kind) Docker network, ``172.18.0.1`` [inferred]."""
    try:
        net = ipaddress.ip_network(f"{node_ip}/16", strict=False)
    except ValueError:
        return "172.18.0.1"
    return str(net.network_address + 1)


def pull_error(image: str, node_ip: str = "") -> PullError | None:
    """What pulling ``image`` on a node gives: None (pulled) or the runtime's error (R14.11)."""
    ref = ImageRef.parse(image)
    name = normalized(ref)
    host = ref.registry
    if host.split(":")[0].rsplit(".", 1)[-1].lower() in RESERVED_TLDS:
        manifest = ref.digest or ref.tag or "latest"
        return PullError("Unknown", f'failed to pull and unpack image "{name}": failed to resolve reference '
                                    f'"{name}": failed to do request: Head "https://{host}/v2/{ref.path}/'
                                    f'manifests/{manifest}": dial tcp: lookup {host.split(":")[0]} on '
                                    f"{resolver(node_ip)}:53: no such host")
    if lookup(image) is not None and not has_tag(ref):
        return PullError("NotFound", f'failed to pull and unpack image "{name}": failed to resolve reference '
                                     f'"{name}": {name}: not found')
    return None
