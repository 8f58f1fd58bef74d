"""CPU per heartbeat message, in process: what the SDK spends building and signing one, and what
the hub spends applying one (signature, checks, registry, group-commit bookkeeping).

The wrk and publisher figures of ``bench/heartbeats.py`` depend on how much of the 2 shared cores
the hub gets; this one does not: it calls the hub's own message handler directly (no socket, no
NATS parser) on a registry of ``N`` instances, so it reads as a ceiling per core for that part.

``python bench/_heartbeat_cost.py [INSTANCES] [MESSAGES]`` prints microseconds per message (best
of 3) and the messages per second one core could apply at that cost.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from centralhub.auth.heartbeat_keys import HeartbeatSigners
from centralhub.core.heartbeat_wire import SigningKey, build_heartbeat
from centralhub.core.settings import load_settings
from centralhub.hub import Hub
from centralhub.registry.models import Registration
from centralhub.registry.nats_heartbeats import NatsHeartbeats


async def main(instances: int, messages: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            env={}, database_url=f"sqlite:///{Path(tmp) / 'hub.db'}", auth="required", secret="s" * 32
        )
        hub = Hub(settings)
        hub.components.clear()  # only the registry and the keys are measured
        await hub.start()
        try:
            _, plaintext = await hub.keys.create("bench", ["registry:write"])
            key = SigningKey.of(plaintext)
            assert key is not None
            targets = []
            for i in range(instances):
                reg = Registration(name=f"svc-{i % 100:03d}", host=f"h{i}", port=8000, ttl_seconds=3600)
                inst, _ = await hub.registry.register("default", reg)
                targets.append((inst.service_name, inst.id))
            intake = NatsHeartbeats(
                hub.registry,
                hub.bus,
                signers=HeartbeatSigners(hub.database, hub.keys),
                supervisor=hub.supervisor,
            )
            await intake.signers.load(key.key_id)  # type: ignore[union-attr]
            build_best = apply_best = float("inf")
            for _ in range(3):
                now = time.time()
                t0 = time.perf_counter()
                batch = [
                    build_heartbeat("default", s, i, now=now, load=0.5, key=key)
                    for s, i in (targets * (messages // len(targets) + 1))[:messages]
                ]
                build_best = min(build_best, (time.perf_counter() - t0) / messages)
                t0 = time.perf_counter()
                for data in batch:
                    intake.on_message(b"", b"", data)
                apply_best = min(apply_best, (time.perf_counter() - t0) / messages)
            assert not intake.rejected, intake.rejected
        finally:
            await hub.stop()
    print(f"{instances:,} instances, {messages:,} messages, best of 3:")
    print(f"  SDK build + sign  {build_best * 1e6:6.2f} us/message")
    print(f"  hub apply         {apply_best * 1e6:6.2f} us/message  (= {1 / apply_best:,.0f}/s on one core)")


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 50_000,
        )
    )
