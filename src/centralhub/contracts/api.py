"""Service contracts: ``/api/v1/contracts/{service}`` (JSON Schemas per message type)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from centralhub.contracts.schemas import (
    CompatibilityCheck,
    CompatibilityRead,
    ContractCreate,
    ContractList,
    ContractRead,
    ContractStored,
)
from centralhub.core.schemas import NAME_PATTERN, ErrorRead
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["contracts"])
BAD_REQUEST: dict[int | str, dict[str, Any]] = {400: {"model": ErrorRead}, 422: {"model": ErrorRead}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {**BAD_REQUEST, 404: {"model": ErrorRead}}
CONFLICT: dict[int | str, dict[str, Any]] = {**BAD_REQUEST, 409: {"model": ErrorRead}}
ServiceName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=128)]


@router.get(
    "/api/v1/contracts",
    response_model=ContractList,
    responses=BAD_REQUEST,
    summary="Every contract of the tenant",
)
async def list_contracts(hub: HubDep, tenant: TenantDep) -> ContractList:
    contracts = await hub.contracts.get_all(tenant)
    return ContractList(
        tenant_id=tenant, count=len(contracts), contracts=[ContractRead.of(c) for c in contracts]
    )


@router.get(
    "/api/v1/contracts/{service}",
    response_model=ContractRead,
    responses=NOT_FOUND,
    summary="A service's current contract",
)
async def get_contract(hub: HubDep, tenant: TenantDep, service: ServiceName) -> ContractRead:
    return ContractRead.of(await hub.contracts.get(tenant, service))


@router.put(
    "/api/v1/contracts/{service}",
    response_model=ContractStored,
    responses=CONFLICT,
    summary="Store a new contract version (409 when it breaks the current one, unless force)",
)
async def put_contract(
    hub: HubDep, tenant: TenantDep, service: ServiceName, body: ContractCreate
) -> ContractStored:
    contract, accepted = await hub.contracts.put(
        tenant, service, schemas=body.schemas, version=body.version, force=body.force
    )
    return ContractStored(**ContractRead.of(contract).model_dump(), breaking_changes=accepted)


@router.post(
    "/api/v1/contracts/{service}/compatibility",
    response_model=CompatibilityRead,
    responses=BAD_REQUEST,
    summary="Would these schemas replace the current contract without breaking it?",
)
async def check_compatibility(
    hub: HubDep, tenant: TenantDep, service: ServiceName, body: CompatibilityCheck
) -> CompatibilityRead:
    return CompatibilityRead(**await hub.contracts.compatibility(tenant, service, body.schemas))


@router.delete(
    "/api/v1/contracts/{service}",
    status_code=204,
    response_class=Response,
    responses=NOT_FOUND,
    summary="Drop a contract",
)
async def delete_contract(hub: HubDep, tenant: TenantDep, service: ServiceName) -> Response:
    await hub.contracts.delete(tenant, service)
    return Response(status_code=204)
