"""The Consul-compatible API beside the hub's own, in the same run, on one hub (SQLite).

1. reads: the same service read through ``GET /v1/health/service/NAME`` (Consul's shape, built per
   request) and through the hub's own ``GET /api/v1/services/NAME`` (the reference), sequential
   keep-alive requests, best of ``--rounds``; prints µs per request and the ratio;
2. blocking queries: a ``?index=&wait=`` query held on one service, then a registration of that
   service; prints how long after the registration's answer the held query returned (median and
   worst of ``--wakes``), beside one plain request's round trip.

    python bench/consul_api.py [--requests 2000] [--rounds 3] [--wakes 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench._util import start_hub


def per_request_us(client: httpx.Client, path: str, count: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count):
            client.get(path).raise_for_status()
        best = min(best, (time.perf_counter() - started) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wakes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hub, _ = start_hub(f"sqlite:///{Path(tmp) / 'hub.db'}", name="hub", log_path=Path(tmp) / "hub.log")
        try:
            with httpx.Client(base_url=hub.url, timeout=90) as client:
                for port in range(8000, 8005):
                    client.put(
                        "/v1/agent/service/register",
                        json={"Name": "quotes", "ID": f"quotes-{port}", "Address": "10.0.0.1", "Port": port,
                              "Tags": ["eu"], "Meta": {"team": "fx"}},
                    ).raise_for_status()  # fmt: skip
                native = per_request_us(client, "/api/v1/services/quotes", args.requests, args.rounds)
                consul = per_request_us(client, "/v1/health/service/quotes", args.requests, args.rounds)
                print(f"reads, 5 instances, sequential keep-alive, best of {args.rounds} x {args.requests}:")
                print(f"  hub's own GET /api/v1/services/quotes   {native:8.0f} µs/request (reference)")
                ratio = consul / native
                print(f"  Consul GET /v1/health/service/quotes    {consul:8.0f} µs/request ({ratio:.2f}x)")

                wakes: list[float] = []
                for k in range(args.wakes):
                    index = client.get("/v1/health/service/quotes").headers["X-Consul-Index"]
                    returned: list[float] = []

                    def held(index: str = index, returned: list[float] = returned) -> None:
                        with httpx.Client(base_url=hub.url, timeout=90) as other:
                            other.get("/v1/health/service/quotes", params={"index": index, "wait": "60s"})
                        returned.append(time.perf_counter())

                    thread = threading.Thread(target=held)
                    thread.start()
                    time.sleep(0.2)  # held by now
                    client.put(
                        "/v1/agent/service/register",
                        json={"Name": "quotes", "ID": f"extra-{k}", "Address": "10.0.0.2", "Port": 9000 + k},
                    ).raise_for_status()
                    changed = time.perf_counter()
                    thread.join(30)
                    wakes.append((returned[0] - changed) * 1000)
                print(f"blocking query woken by a registration ({args.wakes} times):")
                print(f"  after the registration answered: median {statistics.median(wakes):.1f} ms, "
                      f"worst {max(wakes):.1f} ms; one plain read: {native / 1000:.1f} ms")  # fmt: skip
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
