"""Where alerts go: log, console, webhook (HTTP POST with retries) and email (SMTP).

A channel's ``send`` raises on failure (after its own retries); the alert manager records the
outcome per channel and never lets one channel hold up another.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from centralhub.core.errors import InvalidInput

if TYPE_CHECKING:
    from centralhub.alerts.service import Alert

log = logging.getLogger("centralhub.alerts")

SEVERITIES = ("info", "warning", "critical")


class AlertChannel(Protocol):
    name: str
    min_severity: str

    async def send(self, alert: Alert) -> None: ...

    async def close(self) -> None: ...


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


class LogChannel:
    """Writes one log record per alert (level follows severity) to ``centralhub.alerts``."""

    name = "log"

    def __init__(self, min_severity: str = "info") -> None:
        self.min_severity = min_severity

    async def send(self, alert: Alert) -> None:
        level = {"critical": logging.CRITICAL, "warning": logging.WARNING}.get(alert.severity, logging.INFO)
        log.log(level, "ALERT %s", alert.summary(), extra={"alert": alert.to_dict()})

    async def close(self) -> None:
        return None


class ConsoleChannel:
    """Prints one line per alert to stderr (the seed's console channel)."""

    name = "console"

    def __init__(self, min_severity: str = "info", stream: Any = None) -> None:
        self.min_severity = min_severity
        self.stream = stream

    async def send(self, alert: Alert) -> None:
        stream = self.stream or sys.stderr
        print(f"[ALERT {alert.severity.upper()}] {alert.summary()}", file=stream, flush=True)

    async def close(self) -> None:
        return None


class WebhookChannel:
    """POSTs the alert as JSON; retries connection errors and 5xx/429 with exponential backoff."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 5.0,
        headers: dict[str, str] | None = None,
        min_severity: str = "info",
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff = backoff_seconds
        self.min_severity = min_severity
        self._client = httpx.AsyncClient(timeout=timeout_seconds, headers=headers or {}, trust_env=False)

    async def send(self, alert: Alert) -> None:
        body = {"alert": alert.to_dict(), "text": f"[{alert.severity.upper()}] {alert.summary()}"}
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = await self._client.post(self.url, json=body)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code < 400:
                return
            last = f"HTTP {resp.status_code}"
            if resp.status_code < 500 and resp.status_code != 429:
                break  # the receiver rejected it; repeating will not help
        raise ConnectionError(f"webhook {self.url}: {last}")

    async def close(self) -> None:
        await self._client.aclose()


class EmailChannel:
    """Sends one email per alert through SMTP (``aiosmtplib``)."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        sender: str,
        recipients: list[str],
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        timeout_seconds: float = 10.0,
        min_severity: str = "warning",
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = recipients
        self.username = username
        self.password = password
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.timeout = timeout_seconds
        self.min_severity = min_severity

    async def send(self, alert: Alert) -> None:
        import aiosmtplib

        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = f"[central-hub {alert.severity.upper()}] {alert.summary()[:150]}"
        lines = [
            alert.message,
            "",
            f"target:     {alert.target} ({alert.kind})",
            f"event:      {alert.event}",
            f"severity:   {alert.severity}",
            f"dependents: {', '.join(alert.dependents) or '-'}",
            f"alert id:   {alert.id}",
        ]
        msg.set_content("\n".join(lines))
        await aiosmtplib.send(
            msg,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
        )

    async def close(self) -> None:
        return None


def build_channels(config: dict[str, Any]) -> list[AlertChannel]:
    """Channels from the ``alerts`` section of ``infrastructure.yaml``.

    ``channels`` lists names (``log``, ``console``, ``webhook``, ``email``; the latter two read
    their settings from ``alerts.webhook`` / ``alerts.email``) or mappings with a ``type`` key
    and the settings inline. Default: ``[log]``.
    """
    out: list[AlertChannel] = []
    for i, entry in enumerate(config.get("channels", ["log"]) or []):
        if isinstance(entry, str):
            kind, opts = entry, dict(config.get(entry) or {})
        elif isinstance(entry, dict) and "type" in entry:
            kind, opts = str(entry["type"]), {k: v for k, v in entry.items() if k != "type"}
        else:
            raise InvalidInput(f"alerts.channels[{i}]: a channel name or a mapping with 'type'")
        where = f"alerts.channels[{i}] ({kind})"
        min_sev = str(opts.pop("min_severity", "warning" if kind == "email" else "info"))
        if min_sev not in SEVERITIES:
            raise InvalidInput(f"{where}.min_severity: must be one of {', '.join(SEVERITIES)}")
        try:
            if kind == "log":
                out.append(LogChannel(min_sev))
            elif kind == "console":
                out.append(ConsoleChannel(min_sev))
            elif kind == "webhook":
                url = opts.get("url") or os.environ.get(str(opts.get("url_env", "")), "")
                if not url:
                    raise InvalidInput(f"{where}.url: required")
                out.append(
                    WebhookChannel(
                        str(url),
                        retries=int(opts.get("retries", 3)),
                        backoff_seconds=float(opts.get("backoff_seconds", 0.5)),
                        timeout_seconds=float(opts.get("timeout_seconds", 5.0)),
                        headers={str(k): str(v) for k, v in (opts.get("headers") or {}).items()},
                        min_severity=min_sev,
                    )
                )
            elif kind == "email":
                for key in ("host", "sender", "recipients"):
                    if not opts.get(key):
                        raise InvalidInput(f"{where}.{key}: required")
                recipients = opts["recipients"]
                out.append(
                    EmailChannel(
                        host=str(opts["host"]),
                        port=int(opts.get("port", 25)),
                        sender=str(opts["sender"]),
                        recipients=[recipients] if isinstance(recipients, str) else list(recipients),
                        username=opts.get("username"),
                        password=os.environ.get(str(opts["password_env"]))
                        if opts.get("password_env")
                        else None,
                        use_tls=bool(opts.get("use_tls", False)),
                        start_tls=opts.get("start_tls"),
                        timeout_seconds=float(opts.get("timeout_seconds", 10.0)),
                        min_severity=min_sev,
                    )
                )
            else:
                raise InvalidInput(f"{where}: unknown channel (use log, console, webhook or email)")
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}: {exc}") from None
    return out
