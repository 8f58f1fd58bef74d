"""How every SDK client reaches the hub: its URL, the credential it presents, the TLS it trusts.

* The hub's URL is ``CENTRAL_HUB_URL``, else ``http://127.0.0.1:$CENTRAL_HUB_PORT`` (port 7000).
* The credential (an API key or a JWT) is ``api_key=``, else ``CENTRAL_HUB_API_KEY``; it travels as
  ``Authorization: Bearer <credential>`` and is never logged or shown in a ``repr``.
* ``https://`` hub URLs are verified against the system's trusted CAs, or against ``ca_file=``
  (else ``CENTRAL_HUB_CA_FILE``); ``verify=`` is handed to httpx as is (``False`` turns
  verification off, which only an explicit caller can do: nothing falls back to it silently).
* A hub that refuses the credential (401) or its scope (403) raises :class:`HubAuthError` with
  the hub's own message: retrying cannot help, so no client retries it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from centralhub.kit.exceptions import BaseServiceError

__all__ = [
    "API_KEY_ENV",
    "CA_FILE_ENV",
    "HubAuthError",
    "VerifyTypes",
    "auth_error",
    "auth_headers",
    "default_hub_url",
    "error_message",
    "resolve_api_key",
    "same_origin",
    "tls_verify",
]

API_KEY_ENV = "CENTRAL_HUB_API_KEY"
CA_FILE_ENV = "CENTRAL_HUB_CA_FILE"
DEFAULT_PORT = 7000

#: what ``verify=`` accepts: a bool, a CA bundle path, or a ready ``ssl.SSLContext``
VerifyTypes = bool | str | ssl.SSLContext


class HubAuthError(BaseServiceError):
    """The hub refused this client's credential (401) or its scope, tenant or service (403).

    ``status`` is the hub's answer; the message is the hub's own explanation."""

    default_code = "HUB_AUTH_FAILED"

    @property
    def status(self) -> int:
        return int(self.details.get("status", 401))


def default_hub_url(env: Mapping[str, str] | None = None) -> str:
    """``CENTRAL_HUB_URL``, else ``CENTRAL_HUB_HOST`` (127.0.0.1) at ``CENTRAL_HUB_PORT`` (7000):
    the same variables ``centralhub serve`` binds with, so a shell that starts a hub reaches it.
    A wildcard bind address (0.0.0.0, ::) is reached on this machine's loopback."""
    env = os.environ if env is None else env
    url = (env.get("CENTRAL_HUB_URL") or "").strip()
    if url:
        return url.rstrip("/")
    port = (env.get("CENTRAL_HUB_PORT") or "").strip() or str(DEFAULT_PORT)
    host = (env.get("CENTRAL_HUB_HOST") or "").strip()
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def resolve_api_key(api_key: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The credential to present: ``api_key``, else ``CENTRAL_HUB_API_KEY``, else none."""
    env = os.environ if env is None else env
    key = api_key if api_key is not None else env.get(API_KEY_ENV)
    key = (key or "").strip()
    if any(c in key for c in "\r\n\0"):
        raise ValueError(f"the API key contains a control character (check {API_KEY_ENV})")
    return key or None


def auth_headers(api_key: str | None) -> dict[str, str]:
    """``{"Authorization": "Bearer <key>"}``, or nothing without a key."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def tls_verify(
    verify: VerifyTypes | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> bool | ssl.SSLContext:
    """What to pass to httpx as ``verify``: ``verify`` when given (``False`` or a context), else a
    context trusting ``ca_file`` / ``CENTRAL_HUB_CA_FILE``, else ``True`` (the system's CAs).

    A CA file that cannot be read is a ``ValueError`` now, not a connection error later."""
    if isinstance(verify, ssl.SSLContext) or verify is False:
        return verify
    if isinstance(verify, str):
        ca_file = verify
    env = os.environ if env is None else env
    path = str(ca_file) if ca_file is not None else (env.get(CA_FILE_ENV) or "").strip()
    if not path:
        return True
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"CA file {path}: cannot be used ({exc})") from exc


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs name the same scheme, host and port (where a hub credential may go)."""

    def origin(u: str) -> tuple[str, str, int | None]:
        parts = urlsplit(u)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
        return scheme, (parts.hostname or "").lower(), port

    return origin(url) == origin(other)


def error_message(resp: httpx.Response) -> str:
    """The hub's ``{"error": {...}}`` as one line: ``message (status code)``."""
    try:
        err = resp.json()["error"]
        return f"{err['message']} ({resp.status_code} {err['code']})"
    except (ValueError, KeyError, TypeError):
        return f"hub answered {resp.status_code}: {resp.text[:200]}"


def auth_error(resp: httpx.Response, *, has_key: bool, what: str = "") -> HubAuthError | None:
    """A :class:`HubAuthError` for a 401/403 answer (``None`` for any other status)."""
    if resp.status_code not in (401, 403):
        return None
    hint = ""
    if resp.status_code == 401:
        missing = f"; no credential sent (pass api_key= or set {API_KEY_ENV})"
        hint = "; check the API key" if has_key else missing
    prefix = f"{what}: " if what else ""
    details: dict[str, Any] = {"status": resp.status_code}
    return HubAuthError(f"{prefix}hub refused the request: {error_message(resp)}{hint}", details=details)
