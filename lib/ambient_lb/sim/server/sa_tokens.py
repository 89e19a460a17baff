"""Service-account tokens: issued for a pod's token volume and by TokenRequest, checked on every request
(R20.5, R20.6, R20.7).

Who calls it: ``make_app`` publishes a ``ServiceAccountTokens`` as ``cluster.extensions["sa_tokens"]``;
the runtime stand-in for the project's own image (``sim/mesh/apps/own_image.py``) asks it for the
token it writes into ``kube-api-access-*/token``; ``app.py``'s ``auth`` middleware asks ``user_for``
about a bearer token that is not the kubeconfig's; ``token_request`` answers
``POST .../serviceaccounts/<name>/token`` (what ``kubectl create token`` calls).

A token is JWT-shaped (``header.claims.signature``, the claims a kube-apiserver writes: ``iss``,
``sub``, ``aud``, ``exp``, ``kubernetes.io``), signed HS256 with a key only this process knows [model:
a cluster signs RS256 with its service-account key]. It authenticates while (R20.6):

| check | failing it |
| --- | --- |
| this simulator issued it and it has not expired | 401 |
| its ServiceAccount exists, with the uid it was issued for | 401 |
| the object it is bound to (a Pod, Secret or Node) exists, with that uid | 401 |

and then the request is ``system:serviceaccount:<ns>:<sa>`` in the groups ``system:serviceaccounts``,
``system:serviceaccounts:<ns>`` and ``system:authenticated``, authorized by RBAC (``rbac.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from ..clock import Clock, to_rfc3339
from ..protocols import ObjectReader
from ..store import GR
from .rbac import SA_PREFIX, User

ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_SECONDS = 3600  # TokenRequest's default expirationSeconds (R20.7)
MIN_SECONDS = 600
EXTENDED = 3607  # the kubelet's projected-volume request; the API server extends it to a year (R20.5)
YEAR = 365 * 24 * 3600
SERVICE_ACCOUNTS = GR("", "serviceaccounts")
BOUND_KINDS = {"Pod": GR("", "pods"), "Secret": GR("", "secrets"), "Node": GR("", "nodes")}


@dataclass(frozen=True)
class Issued:
    """What a token was issued for."""

    namespace: str
    service_account: str
    sa_uid: str
    expires: float
    bound_kind: str = ""
    bound_name: str = ""
    bound_uid: str = ""
    jti: str = ""


class ServiceAccountTokens:
    """The tokens this simulator has issued, keyed by token (R20.5, R20.6)."""

    def __init__(self, store: ObjectReader, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self._key = secrets.token_bytes(32)
        self._issued: dict[str, Issued] = {}

    def issue(self, namespace: str, service_account: str, seconds: int = EXTENDED,
              bound: tuple[str, str, str] | None = None) -> tuple[str, float]:
        """A token for ``system:serviceaccount:<namespace>:<service_account>`` valid ``seconds`` (3607 is
        extended to a year, R20.5), bound to ``bound`` = (kind, name, uid); (token, expiry epoch).
        Raises ``LookupError`` naming what is missing when the ServiceAccount does not exist."""
        sa = self.store.get(SERVICE_ACCOUNTS, namespace, service_account)
        if sa is None:
            raise LookupError(f'serviceaccounts "{service_account}" not found')
        now = self.clock.now()
        expires = now + (YEAR if seconds == EXTENDED else seconds)
        kind, name, uid = bound or ("", "", "")
        issued = Issued(namespace, service_account, sa["metadata"].get("uid", ""), expires, kind, name, uid,
                        str(uuid.uuid4()))
        token = self._sign(self._claims(issued, now))
        self._issued[token] = issued
        return token, expires

    def user_for(self, token: str) -> User | None:
        """The service account a token authenticates as, or None (401) when it is not valid now (R20.6)."""
        issued = self._issued.get(token)
        if issued is None or self.clock.now() >= issued.expires:
            return None
        sa = self.store.get(SERVICE_ACCOUNTS, issued.namespace, issued.service_account)
        if sa is None or sa["metadata"].get("uid", "") != issued.sa_uid:
            return None
        extra: dict[str, list[str]] = {"authentication.kubernetes.io/credential-id": [f"JTI={issued.jti}"]}
        if issued.bound_kind:
            gr = BOUND_KINDS[issued.bound_kind]
            obj = self.store.get(gr, None if issued.bound_kind == "Node" else issued.namespace, issued.bound_name)
            if obj is None or obj["metadata"].get("uid", "") != issued.bound_uid:
                return None
            if issued.bound_kind == "Pod":
                extra["authentication.kubernetes.io/pod-name"] = [issued.bound_name]
                extra["authentication.kubernetes.io/pod-uid"] = [issued.bound_uid]
        ns = issued.namespace
        return User(f"{SA_PREFIX}{ns}:{issued.service_account}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"),
                    issued.sa_uid, extra)

    def _claims(self, issued: Issued, now: float) -> dict[str, Any]:
        k8s: dict[str, Any] = {"namespace": issued.namespace,
                               "serviceaccount": {"name": issued.service_account, "uid": issued.sa_uid}}
        if issued.bound_kind:
            k8s[issued.bound_kind.lower()] = {"name": issued.bound_name, "uid": issued.bound_uid}
        return {"aud": [ISSUER], "exp": int(issued.expires), "iat": int(now), "iss": ISSUER, "jti": issued.jti,
                "kubernetes.io": k8s, "nbf": int(now),
                "sub": f"{SA_PREFIX}{issued.namespace}:{issued.service_account}"}

    def _sign(self, claims: dict[str, Any]) -> str:
        head = _b64({"alg": "HS256", "kid": hashlib.sha256(self._key).hexdigest()[:43]})
        body = _b64(claims)
        mac = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _b64(doc: dict[str, Any]) -> str:
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def expiration_text(epoch: float) -> str:
    """The ``status.expirationTimestamp`` of a TokenRequest."""
    return to_rfc3339(epoch)
