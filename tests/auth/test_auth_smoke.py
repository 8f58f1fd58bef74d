from __future__ import annotations

import httpx

from centralhub.hub import Hub
from tests.auth_support import bearer, make_key


async def test_credential_required_and_scope_checked(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    r = await auth_client.get("/api/v1/services")
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    key = await make_key(auth_hub, "registry:read")
    r = await auth_client.get("/api/v1/services", headers=bearer(key))
    assert r.status_code == 200, r.text
    r = await auth_client.get("/api/v1/services/x", headers=bearer(key))
    assert r.status_code == 404, r.text
    r = await auth_client.post("/api/v1/services/register", headers=bearer(key), json={})
    assert r.status_code == 403, r.text
    assert "registry:write" in r.json()["error"]["message"]
    assert (await auth_client.get("/health")).status_code == 200
