"""The hub client's contract calls: publish this service's message contract, check a change,
and validate messages against a peer's contract.

Kept apart from :mod:`centralhub.sdk.client` so the client module holds registration and
discovery; the methods only need the client's ``_call`` and ``service_name``.
"""

from __future__ import annotations

from typing import Any

import httpx

from centralhub.kit.exceptions import ServiceNotFound
from centralhub.sdk.connection import error_message as _error_message


class ContractCalls:
    """Mixed into :class:`~centralhub.sdk.client.CentralHubClient`."""

    service_name: str

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        raise NotImplementedError

    async def put_contract(
        self, schemas: dict[str, dict[str, Any]], *, version: str | None = None, force: bool = False
    ) -> dict[str, Any]:
        """Publish this service's message contract; ``ContractConflict`` lists breaking changes."""
        from centralhub.sdk.contracts import ContractConflict

        resp = await self._call(
            "PUT",
            f"/api/v1/contracts/{self.service_name}",
            json={"version": version, "schemas": schemas, "force": force},
        )
        if resp.status_code == 409:
            details = (resp.json().get("error") or {}).get("details") or {}
            raise ContractConflict(
                _error_message(resp), details={"breaking_changes": details.get("breaking_changes", [])}
            )
        if resp.status_code >= 400:
            raise ValueError(_error_message(resp))
        return dict(resp.json())

    async def check_contract_compatibility(
        self, schemas: dict[str, dict[str, Any]], service: str | None = None
    ) -> dict[str, Any]:
        """``{compatible, breaking_changes, current_version}`` for replacing a contract."""
        resp = await self._call(
            "POST",
            f"/api/v1/contracts/{service or self.service_name}/compatibility",
            json={"schemas": schemas},
        )
        if resp.status_code >= 400:
            raise ValueError(_error_message(resp))
        return dict(resp.json())

    async def get_contract(self, service: str) -> dict[str, Any]:
        """A service's current contract; ``ServiceNotFound`` when it has none."""
        resp = await self._call("GET", f"/api/v1/contracts/{service}")
        if resp.status_code == 404:
            raise ServiceNotFound(f"service {service!r} has no contract", details={"service": service})
        if resp.status_code >= 400:
            raise ValueError(_error_message(resp))
        return dict(resp.json())

    @property
    def contracts(self) -> Any:
        """The ``ContractValidator`` for peers' contracts (created on first use)."""
        validator = getattr(self, "_validator", None)
        if validator is None:
            from centralhub.sdk.contracts import ContractValidator

            validator = ContractValidator(self.get_contract)
            self._validator = validator
        return validator

    async def validate_message(self, peer: str, message_type: str, payload: Any) -> None:
        """Raise ``ContractViolation`` unless ``payload`` follows ``peer``'s contract for the type."""
        await self.contracts.validate(peer, message_type, payload)
