"""Example service ``price-feed``: publishes price ticks over NATS and answers quotes over HTTP.

Built on ``BaseService``: it registers with the hub, reads its configuration from the hub and
applies new versions while running (symbols, interval, volatility), publishes a JSON Schema
contract for its ``price.tick`` messages, and calls ``strategy`` directly (discovered through the
hub) from ``GET /consumers``.

Run: ``CENTRAL_HUB_URL=http://127.0.0.1:7000 NATS_URL=nats://127.0.0.1:4222 python examples/price_feed.py``
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from typing import Any

import httpx
from fastapi import HTTPException

from centralhub.kit.exceptions import BaseServiceError
from centralhub.sdk import BaseService
from centralhub.sdk.base_service import ServiceConfig
from centralhub.sdk.messaging import NATSMessagingClient

NAME = os.environ.get("PRICE_FEED_NAME", "price-feed")
STRATEGY = os.environ.get("STRATEGY_NAME", "strategy")
#: NATS subject the ticks go to (tests use a unique one)
SUBJECT = os.environ.get("EXAMPLE_TICK_SUBJECT", "examples.prices.tick")

TICK_CONTRACT: dict[str, dict[str, Any]] = {
    "price.tick": {
        "type": "object",
        "required": ["symbol", "bid", "ask", "ts"],
        "properties": {
            "symbol": {"type": "string", "pattern": "^[A-Z]{6}$"},
            "bid": {"type": "number", "exclusiveMinimum": 0},
            "ask": {"type": "number", "exclusiveMinimum": 0},
            "ts": {"type": "integer"},
            "seq": {"type": "integer"},
        },
    }
}

DEFAULTS: dict[str, Any] = {
    "symbols": ["EURUSD", "GBPUSD"],
    "interval_seconds": 0.5,
    "volatility": 0.0005,
    "spread": 0.0002,
    "base_prices": {"EURUSD": 1.08, "GBPUSD": 1.27, "USDJPY": 151.2, "AUDUSD": 0.66},
}


class PriceFeed(BaseService):
    """Random-walk prices for the configured symbols, published every ``interval_seconds``."""

    def __init__(self) -> None:
        super().__init__(
            ServiceConfig(
                service_name=NAME,
                version="1.0.0",
                service_type="data-collector",
                port=int(os.environ.get("SERVICE_PORT", "8101")),
                nats_url=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"),
                config_defaults=DEFAULTS,
                metadata={"publishes": [SUBJECT]},
                ttl_seconds=int(os.environ.get("SERVICE_TTL_SECONDS", "15")),
            )
        )
        self.messaging = NATSMessagingClient(self.config.nats_url or "", service_name=NAME)
        self.prices: dict[str, float] = {}
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self.app.add_api_route("/quote/{symbol}", self.quote, methods=["GET"])
        self.app.add_api_route("/consumers", self.consumers, methods=["GET"])

    # ---------------------------------------------------------------- lifecycle hooks
    async def on_startup(self) -> None:
        await self.messaging.connect()
        try:
            await self.hub.put_contract(TICK_CONTRACT, version="1.0.0")
        except BaseServiceError as exc:  # e.g. a newer contract on file: keep running, say so
            self.logger.warning("contract not published: %s", exc)
        except Exception as exc:
            self.logger.warning("hub unavailable, contract not published yet: %s", exc)
        self._task = asyncio.create_task(self._publish_loop(), name="price-feed-publisher")

    async def on_shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.messaging.close()

    async def on_config_change(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        # the publish loop reads the configuration on every pass, so nothing to restart here
        self.logger.info("now publishing %s every %ss", new.get("symbols"), new.get("interval_seconds"))

    async def custom_health_checks(self) -> dict[str, Any]:
        connected = self.messaging.is_connected
        return {
            "status": "healthy" if connected else "degraded",
            "nats": "connected" if connected else "disconnected",
            "ticks_published": self.published,
            "symbols": self.config_value("symbols"),
        }

    # ---------------------------------------------------------------- work
    def _next_price(self, symbol: str) -> float:
        base = self.config_value(f"base_prices.{symbol}", 1.0)
        last = self.prices.get(symbol, float(base))
        step = random.gauss(0, float(self.config_value("volatility", 0.0005)))
        price = max(last * (1 + step), 1e-6)
        self.prices[symbol] = price
        return price

    async def _publish_loop(self) -> None:
        seq = 0
        while True:
            for symbol in list(self.config_value("symbols", [])):
                mid = self._next_price(symbol)
                half = float(self.config_value("spread", 0.0002)) / 2
                tick = {
                    "symbol": symbol,
                    "bid": round(mid - half, 6),
                    "ask": round(mid + half, 6),
                    "ts": int(time.time() * 1000),
                    "seq": seq,
                }
                seq += 1
                try:
                    await self.messaging.publish(SUBJECT, tick, message_type="price.tick")
                    self.published += 1
                except Exception as exc:  # NATS reconnecting: skip this tick, keep the loop alive
                    self.logger.warning("tick not published: %s", exc)
            await asyncio.sleep(float(self.config_value("interval_seconds", 0.5)))

    # ---------------------------------------------------------------- HTTP
    async def quote(self, symbol: str) -> dict[str, Any]:
        """The latest price of ``symbol`` (called directly by ``strategy``)."""
        symbol = symbol.upper()
        if symbol not in self.prices:
            raise HTTPException(404, f"no price for {symbol}; symbols: {sorted(self.prices)}")
        return {"symbol": symbol, "price": round(self.prices[symbol], 6), "ts": int(time.time() * 1000)}

    async def consumers(self) -> dict[str, Any]:
        """Ask ``strategy`` directly (address from the hub) how many ticks it has received."""
        try:
            resp = await self.call_peer(STRATEGY, "GET", "/stats")
        except (BaseServiceError, httpx.HTTPError) as exc:
            raise HTTPException(503, f"{STRATEGY} unreachable: {exc}") from None
        stats = resp.json()
        return {
            "published": self.published,
            "consumers": {STRATEGY: {"ticks_received": stats["ticks_received"], "url": str(resp.url)}},
        }


service = PriceFeed()
app = service.app

if __name__ == "__main__":
    service.run()
