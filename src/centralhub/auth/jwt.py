"""JSON Web Tokens: HS256 signed with the hub's secret, or public-key tokens issued elsewhere.

The accepted algorithms come from the key, never from the token: the hub's secret verifies
HS256 only, an RSA key RS256/RS384/RS512, an EC key ES256/ES384/ES512, an Ed25519/Ed448 key
EdDSA. ``alg: none`` matches no key and is refused like any other unknown algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from centralhub.auth.errors import Unauthorized
from centralhub.auth.models import ALL_SCOPES, Principal, expand
from centralhub.core.wire import NAME_RE, TENANT_RE

_RSA = ["RS256", "RS384", "RS512"]
_EC = {"secp256r1": ["ES256"], "secp384r1": ["ES384"], "secp521r1": ["ES512"]}
_REQUIRED = ["exp", "sub"]


@dataclass(frozen=True, slots=True)
class _Key:
    key: Any
    algorithms: list[str]


def _algorithms_for(key: Any) -> list[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _EC.get(key.curve.name, [])
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return ["EdDSA"]
    raise ValueError(f"unsupported public key type {type(key).__name__}")


class JwtVerifier:
    """Turns a token into a :class:`Principal`, or raises :class:`Unauthorized`."""

    def __init__(
        self,
        secret: str | None,
        *,
        public_key_file: str | None = None,
        jwks_file: str | None = None,
        leeway: float = 0.0,
    ) -> None:
        self._secret = _Key(secret, ["HS256"]) if secret else None
        self._public: _Key | None = None
        if public_key_file:
            key = load_pem_public_key(Path(public_key_file).read_bytes())
            self._public = _Key(key, _algorithms_for(key))
        self._jwks: dict[str | None, _Key] = {}
        if jwks_file:
            for jwk in jwt.PyJWKSet.from_json(Path(jwks_file).read_text()).keys:
                self._jwks[jwk.key_id] = _Key(jwk, [jwk.algorithm_name])
        self._leeway = leeway

    @property
    def enabled(self) -> bool:
        return bool(self._secret or self._public or self._jwks)

    def _key_for(self, header: dict[str, Any]) -> _Key:
        alg = header.get("alg")
        candidates: list[_Key] = []
        kid = header.get("kid")
        if kid is not None and kid in self._jwks:
            candidates.append(self._jwks[kid])
        if self._secret is not None:
            candidates.append(self._secret)
        if self._public is not None:
            candidates.append(self._public)
        candidates += [k for k in self._jwks.values() if k not in candidates]
        for candidate in candidates:
            if alg in candidate.algorithms:
                return candidate
        raise Unauthorized(f"token algorithm {str(alg)[:20]!r} is not accepted")

    def verify(self, token: str) -> tuple[Principal, float]:
        """The token's caller and its expiry time (epoch seconds)."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=key.algorithms,
                options={"require": _REQUIRED, "verify_aud": False},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired") from None
        except jwt.InvalidTokenError as exc:
            # PyJWT's messages describe the token, never echo it
            raise Unauthorized(f"token rejected: {type(exc).__name__}") from None
        return _principal(claims), float(claims["exp"])


def _principal(claims: dict[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise Unauthorized("token claim 'sub' must be a non-empty string")
    raw = claims.get("scopes", claims.get("scope", []))
    scopes = raw.split() if isinstance(raw, str) else raw
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise Unauthorized("token claim 'scopes' must be a list or a space-separated string")
    tenant = claims.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant)):
        raise Unauthorized("token claim 'tenant' is not a valid tenant id")
    services = claims.get("services")
    if services is not None:
        if isinstance(services, str):
            services = services.split()
        if not isinstance(services, list) or not all(
            isinstance(s, str) and NAME_RE.fullmatch(s) for s in services
        ):
            raise Unauthorized("token claim 'services' must be a list of service names")
    return Principal(
        name=sub,
        # scopes meant for other systems are ignored, not an error
        scopes=expand([s for s in scopes if s in ALL_SCOPES]),
        tenant=tenant,
        services=None if services is None else frozenset(services),
        kind="jwt",
    )
