"""The hot routes answer exactly as the documented FastAPI routes they shadow.

Every case is sent to an app with the hot routes and to one without them (same hub), and must
get the same status, content type and JSON body; that status must be one ``/openapi.json``
declares for the operation (or, for a method the path does not offer, 405 with no such
operation documented).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from centralhub.hub import Hub
from centralhub.registry.models import InstanceStatus, Registration
from centralhub.server.app import create_app

SERVICE = "/api/v1/services/{name}"
DISCOVERY = "/discovery/services/{name}"
ENDPOINT = "/api/v1/services/{name}/endpoint"
HEARTBEAT = "/api/v1/services/{name}/instances/{instance_id}/heartbeat"
REGISTER = "/api/v1/services/register"
DISCOVERY_REGISTER = "/discovery/register"
#: an endpoint registered before the cases run, so both apps answer ``created: false`` alike
KNOWN = b'{"name": "parity", "host": "p", "port": 1}'


@dataclass
class Case:
    label: str
    method: str
    template: str
    params: dict[str, str]
    status: int
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None

    @property
    def url(self) -> str:
        return self.template.format(**self.params) + (f"?{self.query}" if self.query else "")


def cases(iid: str) -> list[Case]:
    ok = {"name": "parity"}
    ghost = {"name": "ghost"}
    sick = {"name": "parity-sick"}
    beat = {"name": "parity", "instance_id": iid}
    return [
        Case("service", "GET", SERVICE, ok, 200),
        Case("service, discovery path", "GET", DISCOVERY, ok, 200),
        Case("service, status filter", "GET", SERVICE, ok, 200, query="status=healthy"),
        Case("service, bad status filter", "GET", SERVICE, ok, 400, query="status=sideways"),
        Case("unknown service", "GET", SERVICE, ghost, 404),
        Case("unknown service, discovery path", "GET", DISCOVERY, ghost, 404),
        Case("service, bad tenant", "GET", SERVICE, ok, 400, headers={"X-Tenant-ID": "no.dots"}),
        Case("service, other tenant", "GET", SERVICE, ok, 404, headers={"X-Tenant-ID": "elsewhere"}),
        Case("endpoint", "GET", ENDPOINT, ok, 200),
        Case("endpoint, least_load", "GET", ENDPOINT, ok, 200, query="strategy=least_load"),
        Case("endpoint, unknown service", "GET", ENDPOINT, ghost, 404),
        Case("endpoint, none healthy", "GET", ENDPOINT, sick, 503),
        Case("endpoint, bad strategy", "GET", ENDPOINT, ok, 400, query="strategy=fastest"),
        Case("endpoint, empty strategy", "GET", ENDPOINT, ok, 400, query="strategy="),
        Case("endpoint, bad tenant", "GET", ENDPOINT, ok, 400, headers={"X-Tenant-ID": "a b"}),
        Case("heartbeat, no body", "POST", HEARTBEAT, beat, 200),
        Case("heartbeat, load", "POST", HEARTBEAT, beat, 200, content=b'{"load": 0.25}'),
        Case("heartbeat, null body", "POST", HEARTBEAT, beat, 200, content=b"null"),
        Case(
            "heartbeat, form-labelled JSON",
            "POST",
            HEARTBEAT,
            beat,
            200,
            content=b'{"load": 1}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        Case(
            "heartbeat, unknown instance", "POST", HEARTBEAT, {"name": "parity", "instance_id": "nope"}, 404
        ),
        Case(
            "heartbeat, instance of another service",
            "POST",
            HEARTBEAT,
            {"name": "ghost", "instance_id": iid},
            404,
        ),
        Case("heartbeat, malformed JSON", "POST", HEARTBEAT, beat, 400, content=b"[oops"),
        Case("heartbeat, body not an object", "POST", HEARTBEAT, beat, 422, content=b"[1, 2]"),
        Case("heartbeat, load not a number", "POST", HEARTBEAT, beat, 422, content=b'{"load": "high"}'),
        Case("heartbeat, negative load", "POST", HEARTBEAT, beat, 422, content=b'{"load": -1}'),
        Case("heartbeat, bad tenant", "POST", HEARTBEAT, beat, 400, headers={"X-Tenant-ID": "x/y"}),
        Case("register", "POST", REGISTER, {}, 201, content=KNOWN),
        Case("register, discovery path", "POST", DISCOVERY_REGISTER, {}, 201, content=KNOWN),
        Case(
            "register, form-labelled JSON",
            "POST",
            REGISTER,
            {},
            201,
            content=KNOWN,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        Case("register, no body", "POST", REGISTER, {}, 422),
        Case("register, null body", "POST", REGISTER, {}, 422, content=b"null"),
        Case("register, malformed JSON", "POST", REGISTER, {}, 400, content=b'{"name": '),
        Case("register, body not an object", "POST", REGISTER, {}, 422, content=b"[1]"),
        Case("register, nested too deeply", "POST", REGISTER, {}, 400, content=b"[" * 99_999 + b"]" * 99_999),
        Case("register, not UTF-8", "POST", REGISTER, {}, 400, content=b'{"name": "\xff\xfe"}'),
        Case("register, field missing", "POST", REGISTER, {}, 422, content=b'{"name": "p", "host": "p"}'),
        Case("register, bad host", "POST", REGISTER, {}, 422, content=b'{"name":"p","host":"","port":1}'),
        Case(
            "register, metadata too large",
            "POST",
            REGISTER,
            {},
            413,
            content=b'{"name": "parity", "host": "p", "port": 1, "metadata": {"x": "' + b"y" * 70000 + b'"}}',
        ),
        Case("register, bad tenant", "POST", REGISTER, {}, 400, content=KNOWN, headers={"X-Tenant-ID": "/"}),
        Case("wrong method on service", "PUT", SERVICE, ok, 405),
        Case("wrong method on endpoint", "POST", ENDPOINT, ok, 405),
        Case("wrong method on heartbeat", "GET", HEARTBEAT, beat, 405),
        Case("HEAD on service", "HEAD", SERVICE, ok, 405),
    ]


async def _send(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    return await client.request(case.method, case.url, headers=case.headers, content=case.content)


def _body(resp: httpx.Response) -> Any:
    return resp.json() if resp.content else None


async def test_hot_routes_answer_like_the_documented_routes(
    hub: Hub, client: httpx.AsyncClient, plain_client: httpx.AsyncClient
) -> None:
    inst, _ = await hub.registry.register("default", Registration(name="parity", host="p", port=1))
    sick, _ = await hub.registry.register("default", Registration(name="parity-sick", host="s", port=1))
    await hub.registry.set_status(sick, InstanceStatus.CRITICAL)
    openapi = (await plain_client.get("/openapi.json")).json()

    problems: list[str] = []
    for case in cases(inst.id):
        fast, plain = await _send(client, case), await _send(plain_client, case)
        if (fast.status_code, plain.status_code) != (case.status, case.status):
            problems.append(
                f"{case.label}: {fast.status_code} fast, {plain.status_code} plain, {case.status} expected"
            )
            continue
        if _body(fast) != _body(plain):
            problems.append(f"{case.label}: bodies differ:\n  fast  {fast.text}\n  plain {plain.text}")
        if fast.headers.get("content-type") != plain.headers.get("content-type"):
            problems.append(f"{case.label}: content types differ")
        if case.status >= 400 and case.method != "HEAD":  # a HEAD answer carries no body
            assert fast.json()["error"]["message"], case.label
        # the /discovery alias is documented by its /api/v1 twin
        twin = {DISCOVERY: SERVICE, DISCOVERY_REGISTER: REGISTER}.get(case.template, case.template)
        operations = openapi["paths"].get(twin, {})
        operation = operations.get(case.method.lower())
        if case.status == 405:
            if operation is not None:
                problems.append(f"{case.label}: 405 for an operation OpenAPI documents")
        elif operation is None or str(case.status) not in operation["responses"]:
            problems.append(f"{case.label}: {case.status} is not declared in OpenAPI")
    assert not problems, "\n".join(problems)


async def test_an_unexpected_error_is_the_json_500_either_way(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> bytes:
        raise RuntimeError("view is broken")

    monkeypatch.setattr(hub.registry, "service_body", broken)
    for hot_paths in (True, False):
        app = create_app(hub.settings, hub=hub, hot_paths=hot_paths)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            resp = await c.get("/api/v1/services/anything")
        assert resp.status_code == 500, hot_paths
        assert resp.json() == {"error": {"code": "internal_error", "message": "internal error: RuntimeError"}}
