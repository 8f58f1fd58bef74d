"""Example service ``strategy``: consumes price ticks over NATS, checks them against the
price feed's contract, and asks ``price-feed`` for quotes directly over HTTP.

Built on ``BaseService``: registers with the hub, hot-reloads its configuration (which symbols
to follow, the signal threshold), discovers ``price-feed`` through the hub and calls it at the
address the hub gives (no proxy).

Run: ``SERVICE_PORT=8102 python examples/strategy.py`` (``CENTRAL_HUB_URL``/``NATS_URL`` as for the feed)
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from fastapi import HTTPException

from centralhub.kit.exceptions import BaseServiceError, ServiceNotFound
from centralhub.sdk import BaseService
from centralhub.sdk.base_service import ServiceConfig
from centralhub.sdk.contracts import ContractViolation
from centralhub.sdk.messaging import Message, NATSMessagingClient

NAME = os.environ.get("STRATEGY_NAME", "strategy")
PRICE_FEED = os.environ.get("PRICE_FEED_NAME", "price-feed")
SUBJECT = os.environ.get("EXAMPLE_TICK_SUBJECT", "examples.prices.tick")

DEFAULTS: dict[str, Any] = {"symbols": ["EURUSD"], "threshold_bps": 2.0}


class Strategy(BaseService):
    """Keeps the last tick per followed symbol; ``/signal/{symbol}`` compares it with a live quote."""

    def __init__(self) -> None:
        super().__init__(
            ServiceConfig(
                service_name=NAME,
                version="1.0.0",
                service_type="strategy",
                port=int(os.environ.get("SERVICE_PORT", "8102")),
                nats_url=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"),
                config_defaults=DEFAULTS,
                dependencies=[PRICE_FEED],
                ttl_seconds=int(os.environ.get("SERVICE_TTL_SECONDS", "15")),
            )
        )
        self.messaging = NATSMessagingClient(self.config.nats_url or "", service_name=NAME)
        self.last: dict[str, dict[str, Any]] = {}
        self.received = 0
        self.rejected: list[str] = []
        self.unchecked = 0
        self.app.add_api_route("/stats", self.stats, methods=["GET"])
        self.app.add_api_route("/signal/{symbol}", self.signal, methods=["GET"])

    async def on_startup(self) -> None:
        await self.messaging.connect()
        await self.messaging.subscribe(SUBJECT, self.on_tick)

    async def on_shutdown(self) -> None:
        await self.messaging.close()

    async def on_config_change(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        dropped = set(old.get("symbols", [])) - set(new.get("symbols", []))
        for symbol in dropped:
            self.last.pop(symbol, None)
        self.logger.info("following %s, threshold %s bps", new.get("symbols"), new.get("threshold_bps"))

    async def custom_health_checks(self) -> dict[str, Any]:
        return {
            "nats": "connected" if self.messaging.is_connected else "disconnected",
            "ticks_received": self.received,
            "ticks_rejected": len(self.rejected),
        }

    async def on_tick(self, message: Message) -> None:
        tick = message.data
        try:
            await self.hub.validate_message(PRICE_FEED, "price.tick", tick)
        except ContractViolation as exc:
            self.rejected.append(exc.message)
            return
        except (ServiceNotFound, BaseServiceError):
            self.unchecked += 1  # no contract on file yet (or hub down): accept, but count it
        self.received += 1
        if tick["symbol"] in self.config_value("symbols", []):
            self.last[tick["symbol"]] = tick

    async def stats(self) -> dict[str, Any]:
        return {
            "ticks_received": self.received,
            "ticks_rejected": len(self.rejected),
            "ticks_unchecked": self.unchecked,
            "last_rejection": self.rejected[-1] if self.rejected else None,
            "symbols": self.config_value("symbols"),
            "threshold_bps": self.config_value("threshold_bps"),
            "config_version": self.config_version,
            "last_prices": {s: (t["bid"] + t["ask"]) / 2 for s, t in self.last.items()},
        }

    async def signal(self, symbol: str) -> dict[str, Any]:
        """Compare the last streamed tick with a quote asked directly of ``price-feed``."""
        symbol = symbol.upper()
        if symbol not in self.config_value("symbols", []):
            raise HTTPException(404, f"{symbol} is not followed; symbols: {self.config_value('symbols')}")
        try:
            resp = await self.call_peer(PRICE_FEED, "GET", f"/quote/{symbol}")
        except (BaseServiceError, httpx.HTTPError) as exc:
            raise HTTPException(503, f"{PRICE_FEED} unreachable: {exc}") from None
        if resp.status_code != 200:
            raise HTTPException(502, f"{PRICE_FEED} answered {resp.status_code}: {resp.text[:200]}")
        quote = resp.json()["price"]
        tick = self.last.get(symbol)
        streamed = (tick["bid"] + tick["ask"]) / 2 if tick else quote
        move_bps = (quote - streamed) / streamed * 10_000
        threshold = float(self.config_value("threshold_bps", 2.0))
        action = "buy" if move_bps > threshold else "sell" if move_bps < -threshold else "hold"
        return {
            "symbol": symbol,
            "quote": quote,
            "streamed": streamed,
            "move_bps": round(move_bps, 3),
            "signal": action,
            "quoted_by": str(resp.url),
        }


service = Strategy()
app = service.app

if __name__ == "__main__":
    service.run()
