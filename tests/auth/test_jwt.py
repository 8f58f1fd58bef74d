"""JWTs: HS256 with the hub's secret, public-key tokens from elsewhere; forgeries refused."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from centralhub.hub import Hub
from centralhub.server.app import create_app
from tests.auth_support import SECRET, auth_settings, bearer
from tests.conftest import reset_database


def _claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "svc-orders", "scopes": ["registry:read"], "exp": int(time.time()) + 300, **extra}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _get(client: httpx.AsyncClient, token: str, path: str = "/api/v1/services") -> httpx.Response:
    return await client.get(path, headers=bearer(token))


async def test_hs256_token(auth_client: httpx.AsyncClient) -> None:
    good = jwt.encode(_claims(), SECRET, algorithm="HS256")
    assert (await _get(auth_client, good)).status_code == 200
    spaced = jwt.encode(_claims(scopes="registry:read config:read"), SECRET, algorithm="HS256")
    assert (await _get(auth_client, spaced, "/api/v1/config")).status_code == 200
    # the token's scopes are all it gets
    resp = await _get(auth_client, good, "/api/v1/config")
    assert resp.status_code == 403 and "config:read" in resp.json()["error"]["message"]


async def test_hs256_token_refusals(auth_client: httpx.AsyncClient) -> None:
    expired = jwt.encode(_claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256")
    wrong_signature = jwt.encode(_claims(), "another-secret-0123456789-0123456789abcdef", algorithm="HS256")
    no_exp = jwt.encode({"sub": "x", "scopes": ["admin"]}, SECRET, algorithm="HS256")
    no_sub = jwt.encode({"scopes": ["admin"], "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    unsigned = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims(scopes=["admin"])) + "."
    unsigned_upper = _b64({"alg": "None"}) + "." + _b64(_claims(scopes=["admin"])) + "."
    for name, token in [
        ("expired", expired),
        ("wrong signature", wrong_signature),
        ("no exp", no_exp),
        ("no sub", no_sub),
        ("alg none", unsigned),
        ("alg None", unsigned_upper),
    ]:
        resp = await _get(auth_client, token)
        assert resp.status_code == 401, name
        assert resp.headers["www-authenticate"] == "Bearer"
        assert token not in resp.text
    resp = await _get(auth_client, expired)
    assert "expired" in resp.json()["error"]["message"]


async def test_tenant_claim_binds_the_token(auth_client: httpx.AsyncClient) -> None:
    token = jwt.encode(_claims(tenant="t1"), SECRET, algorithm="HS256")
    assert (await _get(auth_client, token)).json()["tenant_id"] == "t1"
    resp = await auth_client.get("/api/v1/services", headers={**bearer(token), "X-Tenant-ID": "t2"})
    assert resp.status_code == 403


@pytest.fixture
async def public_key_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any, Any]]:
    """A hub (SQLite) trusting an RSA public key file and an Ed25519 key in a JWKS file."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "issuer.pem").write_bytes(pem)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed_key.public_key()))
    jwk["kid"] = "edge-1"
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    await reset_database(url)
    hub = Hub(
        auth_settings(
            url, jwt_public_key_file=str(tmp_path / "issuer.pem"), jwks_file=str(tmp_path / "jwks.json")
        )
    )
    await hub.start()
    try:
        transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as client:
            yield client, rsa_key, ed_key
    finally:
        await hub.stop()


async def test_rs256_and_jwks_tokens(public_key_client: tuple[httpx.AsyncClient, Any, Any]) -> None:
    client, rsa_key, ed_key = public_key_client
    rs = jwt.encode(_claims(), rsa_key, algorithm="RS256")
    assert (await _get(client, rs)).status_code == 200
    ed = jwt.encode(_claims(), ed_key, algorithm="EdDSA", headers={"kid": "edge-1"})
    assert (await _get(client, ed)).status_code == 200
    # the hub's secret still signs HS256 tokens alongside
    assert (await _get(client, jwt.encode(_claims(), SECRET, algorithm="HS256"))).status_code == 200

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert (await _get(client, jwt.encode(_claims(), other, algorithm="RS256"))).status_code == 401
    expired = jwt.encode(_claims(exp=int(time.time()) - 5), rsa_key, algorithm="RS256")
    assert (await _get(client, expired)).status_code == 401
    # key confusion: the public key used as an HMAC secret
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64(_claims(scopes=["admin"]))
    import hashlib
    import hmac

    signature = hmac.new(pem, forged.encode(), hashlib.sha256).digest()
    forged += "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    assert (await _get(client, forged)).status_code == 401
