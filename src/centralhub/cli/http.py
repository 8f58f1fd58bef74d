"""What every ``centralhub`` client command shares: the hub's address, credential and TLS trust,
one HTTP call, output.

The root command's ``--api-key`` / ``--ca-file`` (envs ``CENTRAL_HUB_API_KEY`` /
``CENTRAL_HUB_CA_FILE``) land in :data:`CLIENT`, which :func:`request` reads: a new command gets
them by calling :func:`request`, with no option of its own.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import typer

from centralhub.sdk.connection import API_KEY_ENV, auth_headers, default_hub_url, resolve_api_key, tls_verify

HubOpt = Annotated[
    str,
    typer.Option(
        "--hub", envvar="CENTRAL_HUB_URL", help="Hub base URL (default http://127.0.0.1:$CENTRAL_HUB_PORT)."
    ),
]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant (X-Tenant-ID).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print raw JSON.")]
#: ``CENTRAL_HUB_URL``, else the hub on this machine at ``CENTRAL_HUB_PORT`` (7000)
DEFAULT_HUB = default_hub_url()


@dataclass
class ClientOptions:
    """The root command's connection options, for every client command of this invocation."""

    api_key: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    #: ``--output``: table (for people) or json (for scripts)
    output: str = "table"

    def headers(self) -> dict[str, str]:
        try:
            return auth_headers(resolve_api_key(self.api_key))
        except ValueError as exc:
            fail(str(exc), code=2)
            raise  # unreachable: fail() exits

    def verify(self) -> bool | ssl.SSLContext:
        try:
            return tls_verify(None, self.ca_file)
        except ValueError as exc:
            fail(str(exc), code=2)
            raise  # unreachable: fail() exits


CLIENT = ClientOptions()


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def request(
    method: str,
    hub: str,
    path: str,
    *,
    tenant: str = "default",
    as_text: bool = False,
    allow_missing: bool = False,
    **kwargs: Any,
) -> Any:
    """One HTTP call to the hub with the invocation's credential and TLS trust; prints the hub's
    error message and exits on failure.

    Returns the decoded JSON body, or the body as text with ``as_text`` (DOT, Mermaid);
    ``None`` for a 404 with ``allow_missing``."""
    headers = {**CLIENT.headers(), **kwargs.pop("headers", {})}
    headers.setdefault("X-Tenant-ID", tenant)
    url = hub.rstrip("/") + path
    try:
        with httpx.Client(verify=CLIENT.verify(), timeout=10) as http:
            resp = http.request(method, url, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        hint = ""
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            hint = " (pass --ca-file or set CENTRAL_HUB_CA_FILE to trust the hub's certificate)"
        fail(f"cannot reach the hub at {hub}: {exc}{hint}")
    if resp.status_code == 404 and allow_missing:
        return None
    if resp.status_code >= 400:
        hint = ""
        if resp.status_code == 401 and "Authorization" not in headers:
            hint = f"; pass --api-key or set {API_KEY_ENV}"
        try:
            err = resp.json()["error"]
            message = f"{err['message']} ({resp.status_code} {err['code']})"
        except (ValueError, KeyError, TypeError):
            message = f"hub answered {resp.status_code}: {resp.text[:200]}"
        fail(message + hint)
    if as_text:
        return resp.text
    if resp.status_code == 204 or not resp.content:
        return None
    return resp.json()


def wants_json(flag: bool) -> bool:
    """A command's ``--json`` or the root ``--output json``."""
    return flag or CLIENT.output == "json"


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


__all__ = [
    "CLIENT",
    "DEFAULT_HUB",
    "ClientOptions",
    "HubOpt",
    "JsonOpt",
    "TenantOpt",
    "fail",
    "print_json",
    "request",
    "wants_json",
]
