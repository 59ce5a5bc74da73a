"""Open-loop load on a serving API's ``/recommend``: what the serving benchmarks share.

Requests start on a fixed schedule whatever the answers' speed, so a slow service shows up as
latency instead of being hidden by a client that waits for each answer.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

import httpx


async def load(
    url: str, rate: int, seconds: float, users: int, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Send ``rate`` requests per second for ``seconds``; return throughput and latency figures.

    Latency runs from the moment a request is sent. How far behind its schedule the generator
    sent requests is recorded apart (``lag_p99_ms``): a large lag means the generator, not the
    service, set the pace, and the latencies understate what a real client would see. Users
    are drawn from ``range(users)``; ``context`` adds the same parameters to every request.
    """
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    draw = random.Random(rate)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:

        async def one(user_id: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                params = {"user_id": user_id, "k": 10, **(context or {})}
                response = await client.get("/recommend", params=params)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

        begin = time.perf_counter()
        tasks = []
        for index in range(int(rate * seconds)):
            due = begin + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(max(0.0, time.perf_counter() - due) * 1000)
            tasks.append(asyncio.create_task(one(draw.randrange(users))))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": len(tasks),
        "errors": errors,
        "throughput": len(latencies) / elapsed,
        "p50_ms": quantiles[49],
        "p95_ms": quantiles[94],
        "p99_ms": quantiles[98],
        "max_ms": max(latencies, default=0.0),
        "lag_p99_ms": statistics.quantiles(lags, n=100)[98] if len(lags) > 1 else 0.0,
    }
