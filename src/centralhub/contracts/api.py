"""Service contracts: ``/api/v1/contracts/{service}`` (JSON Schemas per message type)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from centralhub.contracts.service import ContractService
from centralhub.core.schemas import NAME_PATTERN, ErrorRead
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["contracts"])
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorRead},
    404: {"model": ErrorRead},
    409: {"model": ErrorRead},
    422: {"model": ErrorRead},
}
ServiceName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=128)]


class ContractCreate(BaseModel):
    """A new contract version: ``schemas`` maps message types to JSON Schemas."""

    model_config = {
        "json_schema_extra": {
            "example": {
                "version": "1.0.0",
                "schemas": {
                    "price.tick": {
                        "type": "object",
                        "required": ["symbol", "price"],
                        "properties": {"symbol": {"type": "string"}, "price": {"type": "number"}},
                    }
                },
            }
        }
    }

    version: str | None = Field(None, min_length=1, max_length=64)
    schemas: dict[str, dict[str, Any]] = Field(..., min_length=1, max_length=256)
    force: bool = False


class CompatibilityCheck(BaseModel):
    schemas: dict[str, dict[str, Any]] = Field(..., min_length=1, max_length=256)


def _service(hub: Any) -> ContractService:
    return hub.contracts  # type: ignore[no-any-return]


@router.get("/api/v1/contracts", summary="Every contract of the tenant")
async def list_contracts(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    contracts = await _service(hub).get_all(tenant)
    return {"tenant_id": tenant, "count": len(contracts), "contracts": [c.to_dict() for c in contracts]}


@router.get("/api/v1/contracts/{service}", responses=ERRORS, summary="A service's current contract")
async def get_contract(hub: HubDep, tenant: TenantDep, service: ServiceName) -> dict[str, Any]:
    return (await _service(hub).get(tenant, service)).to_dict()


@router.put(
    "/api/v1/contracts/{service}",
    responses=ERRORS,
    summary="Store a new contract version (409 when it breaks the current one, unless force)",
)
async def put_contract(
    hub: HubDep, tenant: TenantDep, service: ServiceName, body: ContractCreate
) -> dict[str, Any]:
    contract, accepted = await _service(hub).put(
        tenant, service, schemas=body.schemas, version=body.version, force=body.force
    )
    return {**contract.to_dict(), "breaking_changes": accepted}


@router.post(
    "/api/v1/contracts/{service}/compatibility",
    responses=ERRORS,
    summary="Would these schemas replace the current contract without breaking it?",
)
async def check_compatibility(
    hub: HubDep, tenant: TenantDep, service: ServiceName, body: CompatibilityCheck
) -> dict[str, Any]:
    return await _service(hub).compatibility(tenant, service, body.schemas)


@router.delete("/api/v1/contracts/{service}", status_code=204, responses=ERRORS, summary="Drop a contract")
async def delete_contract(hub: HubDep, tenant: TenantDep, service: ServiceName) -> Response:
    await _service(hub).delete(tenant, service)
    return Response(status_code=204)
