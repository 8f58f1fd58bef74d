"""One error hierarchy: one root, the same class wherever it is imported from, HTTP status by
class in one table, and a RecursionError blamed on the caller only when the body caused it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from centralhub import kit, market
from centralhub.config.documents import ConfigValidationError
from centralhub.core.errors import (
    HTTP_STATUS,
    CentralHubError,
    Conflict,
    HubError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    status_for,
)
from centralhub.graph.service import DependencyCycle
from centralhub.hub import Hub
from centralhub.sdk.contracts import ContractViolation
from centralhub.sdk.messaging.errors import MessagingError
from centralhub.server.app import create_app


def nested_body(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.fixture
async def lenient_client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, but a 500 comes back as an answer instead of re-raising in the test."""
    transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as c:
        yield c


# ------------------------------------------------------------------------------ one root
@pytest.mark.parametrize(
    "cls",
    [
        HubError,
        NotFound,
        DependencyCycle,
        ConfigValidationError,
        kit.BaseServiceError,
        kit.ServiceNotFound,
        kit.ValidationError,
        market.ValidationError,
        market.DataManagerError,
        ContractViolation,
        MessagingError,
    ],
)
def test_every_error_family_derives_from_the_one_root(cls: type[Exception]) -> None:
    assert issubclass(cls, CentralHubError)


def test_market_errors_are_the_kit_errors() -> None:
    for name in (
        "ValidationError",
        "DataManagerError",
        "DatabaseConnectionError",
        "QueryTimeoutError",
        "QueryExecutionError",
        "CacheError",
    ):
        assert getattr(market, name) is getattr(kit, name), name


def test_catching_kit_validation_error_catches_the_market_one_and_back() -> None:
    with pytest.raises(kit.ValidationError) as caught:
        market.DataValidator().ensure_tick({"symbol": "X", "bid": -1, "ask": -2})
    assert len(caught.value.errors) == 4 and str(caught.value).startswith("invalid tick: ")

    with pytest.raises(market.ValidationError):
        raise kit.ValidationError("bad tick")
    # code written against the market layer may still catch it as a ValueError
    with pytest.raises(ValueError):
        raise kit.ValidationError(["bid: must be > 0"], "tick")


def test_every_family_is_caught_by_the_root() -> None:
    for error in (
        NotFound("no such service"),
        kit.ServiceNotFound("no such service"),
        market.QueryTimeoutError("query exceeded 5s"),
    ):
        with pytest.raises(CentralHubError) as caught:
            raise error
        assert caught.value.message and caught.value.code


def test_the_kit_error_api_is_unchanged() -> None:
    err = kit.ServiceNotFound("no service 'x'", details={"name": "x"})
    assert err.code == "SERVICE_NOT_FOUND" == kit.ServiceNotFound.default_code
    assert err.to_dict() == {"error": "no service 'x'", "code": "SERVICE_NOT_FOUND", "details": {"name": "x"}}
    assert kit.ServiceNotFound("x", code="CUSTOM").code == "CUSTOM"
    assert kit.BaseServiceError().message == "BaseServiceError" and kit.BaseServiceError().details == {}


# ------------------------------------------------------------------------------ the status table
@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("x"), 404),
        (InvalidInput("x"), 400),
        (Conflict("x"), 409),
        (Unavailable("x"), 503),
        (PayloadTooLarge("x"), 413),
        (HubError("x"), 400),
        (DependencyCycle(["a", "b", "a"]), 409),  # a subclass answers like its mapped ancestor
        (ConfigValidationError("x"), 422),  # declared in its own class body
        (kit.ServiceNotFound("x"), 404),
        (kit.ValidationError("x"), 422),
        (kit.RegistrationFailed("x"), 500),  # no status of its own: the kit root's
        (kit.QueryTimeoutError("x"), 504),
        (ContractViolation("x"), 422),
        (CentralHubError("x"), 500),
        (RuntimeError("x"), 500),
        (RecursionError("x"), 500),
    ],
)
def test_status_is_looked_up_by_class(error: Exception, status: int) -> None:
    assert status_for(error) == status
    assert status_for(type(error)) == status


def test_a_new_subclass_inherits_or_declares_its_status() -> None:
    class GoneTenant(NotFound):
        pass

    class Teapot(HubError):
        http_status = 418

    class StatusCodeAttribute(InvalidInput):
        # the table is the only source: an attribute with another name changes nothing
        status_code = 418

    assert status_for(GoneTenant("t")) == 404 and GoneTenant.http_status == 404
    assert status_for(Teapot("t")) == 418 and HTTP_STATUS[Teapot] == 418
    assert status_for(StatusCodeAttribute("t")) == 400


def test_http_status_attribute_always_matches_the_table() -> None:
    def walk(cls: type[CentralHubError]) -> list[type[CentralHubError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    for cls in walk(CentralHubError):
        assert cls.http_status == status_for(cls), cls


# ------------------------------------------------------------------------------ over HTTP
async def test_a_recursion_error_inside_the_hub_is_a_500(
    hub: Hub, lenient_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_deep(*_args: object, **_kwargs: object) -> dict[str, int]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(hub.registry, "figures", too_deep)
    resp = await lenient_client.get("/api/v1/metrics")
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "internal_error"


async def test_a_kit_error_raised_in_a_route_gets_its_status_from_the_table(
    hub: Hub, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*_args: object, **_kwargs: object) -> dict[str, int]:
        raise kit.ServiceUnavailable("registry is warming up")

    monkeypatch.setattr(hub.registry, "figures", unavailable)
    resp = await client.get("/api/v1/metrics")
    assert resp.status_code == 503
    assert resp.json()["error"] == {"code": "SERVICE_UNAVAILABLE", "message": "registry is warming up"}


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("POST", "/api/v1/services/register", "invalid_json"),  # parsed by FastAPI
        ("PUT", "/api/v1/contracts/deep", "invalid_json"),
        ("POST", "/api/v1/config/deep", "invalid_input"),  # parsed by the config API itself
    ],
)
async def test_a_body_nested_past_the_recursion_limit_is_a_400(
    client: httpx.AsyncClient, method: str, path: str, code: str
) -> None:
    resp = await client.request(
        method, path, content=nested_body(100_000), headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == code
    assert resp.json()["error"]["message"]


async def test_a_service_built_on_the_sdk_answers_with_the_same_table() -> None:
    from centralhub.sdk.base_service import BaseService

    service = BaseService(service_name="orders", register_with_hub=False, enable_config=False)

    @service.app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, str]:
        raise kit.ServiceNotFound(f"no order {order_id!r}", details={"order_id": order_id})

    @service.app.get("/conflict")
    async def conflict() -> dict[str, str]:
        raise Conflict("already there")

    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc", timeout=10) as c:
        resp = await c.get("/orders/7")
        assert resp.status_code == 404
        assert resp.json() == {
            "error": "no order '7'",
            "code": "SERVICE_NOT_FOUND",
            "details": {"order_id": "7"},
        }
        resp = await c.get("/conflict")
        assert resp.status_code == 409 and resp.json()["code"] == "conflict"
    await service.hub.close()
    await service._peers.aclose()
