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
from typing import Any, Protocol

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from centralhub.alerts.models import SEVERITIES, Alert, severity_rank
from centralhub.alerts.schemas import alert_document
from centralhub.core.errors import InvalidInput
from centralhub.metrics import collectors as metrics

__all__ = [
    "SEVERITIES",
    "AlertChannel",
    "ConsoleChannel",
    "EmailChannel",
    "LogChannel",
    "WebhookChannel",
    "build_channels",
    "severity_rank",
]

log = logging.getLogger("centralhub.alerts")


class AlertChannel(Protocol):
    name: str
    min_severity: str

    async def send(self, alert: Alert) -> None: ...

    async def close(self) -> None: ...


class LogChannel:
    """Writes one log record per alert (level follows severity) to ``centralhub.alerts``."""

    name = "log"

    def __init__(self, min_severity: str = "info") -> None:
        self.min_severity = min_severity

    async def send(self, alert: Alert) -> None:
        level = {"critical": logging.CRITICAL, "warning": logging.WARNING}.get(alert.severity, logging.INFO)
        log.log(level, "ALERT %s", alert.summary(), extra={"alert": alert_document(alert)})

    async def close(self) -> None:
        return None


class ConsoleChannel:
    """Prints one line per alert to stderr."""

    name = "console"

    def __init__(self, min_severity: str = "info", stream: Any = None) -> None:
        self.min_severity = min_severity
        self.stream = stream

    async def send(self, alert: Alert) -> None:
        stream = self.stream or sys.stderr
        print(f"[ALERT {alert.severity.upper()}] {alert.summary()}", file=stream, flush=True)

    async def close(self) -> None:
        return None


class WebhookRetryable(ConnectionError):
    """A delivery attempt that may succeed when repeated: no connection, 5xx or 429."""


class WebhookChannel:
    """POSTs the alert as JSON; retries connection errors and 5xx/429 with exponential backoff
    (``backoff_seconds``, doubling, at most :attr:`MAX_BACKOFF`) up to ``retries`` times."""

    name = "webhook"
    MAX_BACKOFF = 30.0

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
        body = {"alert": alert_document(alert), "text": f"[{alert.severity.upper()}] {alert.summary()}"}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff, min=0, max=self.MAX_BACKOFF),
            retry=retry_if_exception_type(WebhookRetryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(body)
        except WebhookRetryable as exc:
            raise ConnectionError(f"webhook {self.url}: {exc}") from None

    async def _post(self, body: dict[str, Any]) -> None:
        try:
            resp = await self._client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise WebhookRetryable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code < 400:
            return
        if resp.status_code >= 500 or resp.status_code == 429:
            raise WebhookRetryable(f"HTTP {resp.status_code}")
        # the receiver rejected the alert itself; repeating it will not help
        raise ConnectionError(f"webhook {self.url}: HTTP {resp.status_code}")

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


async def send_to_channels(channels: list[AlertChannel], alert: Alert, *, timeout: float) -> None:
    """Send ``alert`` to every channel at or above its ``min_severity``, concurrently, each
    within ``timeout`` seconds; the outcome per channel goes into ``alert.deliveries``."""

    async def one(channel: AlertChannel) -> None:
        if severity_rank(alert.severity) < severity_rank(channel.min_severity):
            alert.deliveries[channel.name] = "skipped (severity)"
            return
        try:
            async with asyncio.timeout(timeout):
                await channel.send(alert)
        except TimeoutError:
            log.warning("alert channel %s timed out", channel.name)
            alert.deliveries[channel.name] = f"failed: timed out after {timeout:g}s"
        except Exception as exc:
            log.warning("alert channel %s failed: %s", channel.name, exc)
            alert.deliveries[channel.name] = f"failed: {exc}"[:300]
        else:
            alert.deliveries[channel.name] = "sent"
            metrics.ALERTS_SENT.labels(
                channel=channel.name, severity=alert.severity, tenant=alert.tenant_id or ""
            ).inc()

    await asyncio.gather(*(one(c) for c in channels))
