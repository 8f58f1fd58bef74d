"""Keys API for ``admin``: ``/api/v1/keys`` (create, list, revoke)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from centralhub.auth.context import actor_name
from centralhub.auth.schemas import KeyCreate, KeyCreated, KeyList, KeyRead
from centralhub.core.schemas import NAME_PATTERN, ErrorRead
from centralhub.server.deps import HubDep

router = APIRouter(tags=["keys"])
_AUTH: dict[int | str, dict[str, Any]] = {401: {"model": ErrorRead}, 403: {"model": ErrorRead}}
_BAD: dict[int | str, dict[str, Any]] = {**_AUTH, 400: {"model": ErrorRead}, 422: {"model": ErrorRead}}
KeyName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=128)]


@router.post(
    "/api/v1/keys",
    status_code=201,
    response_model=KeyCreated,
    responses={**_BAD, 409: {"model": ErrorRead}},
    summary="Create an API key; the answer holds its secret, shown this once",
)
async def create_key(body: KeyCreate, hub: HubDep) -> KeyCreated:
    key, plaintext = await hub.keys.create(
        body.name,
        body.scopes,
        tenant=body.tenant,
        services=body.services,
        expires_in=body.expires_in,
        rate_limit_per_minute=body.rate_limit_per_minute,
        created_by=actor_name(),
    )
    return KeyCreated(**KeyRead.of(key).model_dump(), key=plaintext)


@router.get("/api/v1/keys", response_model=KeyList, responses=_AUTH, summary="Every key, without secrets")
async def list_keys(hub: HubDep) -> KeyList:
    keys = await hub.keys.list()
    return KeyList(count=len(keys), keys=[KeyRead.of(k) for k in keys])


@router.delete(
    "/api/v1/keys/{name}",
    status_code=204,
    response_class=Response,
    responses={**_BAD, 404: {"model": ErrorRead}},
    summary="Revoke a key on every replica",
)
async def revoke_key(name: KeyName, hub: HubDep) -> Response:
    await hub.keys.revoke(name)
    return Response(status_code=204)
