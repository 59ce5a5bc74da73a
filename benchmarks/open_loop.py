"""Open-loop load on serving APIs' ``/recommend``: what the serving benchmarks share.

Requests start on a fixed schedule whatever the answers' speed, so a slow service shows up as
latency instead of being hidden by a client that waits for each answer.

The generator writes HTTP/1.1 by hand on keep-alive connections (a pool per service, a new
connection only when every open one is busy) instead of using an HTTP library: on a 2-core
machine the generator shares the cores with the service. Measured against level 2's service,
httpx took 1.0 ms of CPU per request at 200 requests/s (the service 0.6 ms) and could not keep
up with 1,000/s; this generator takes 0.1-0.2 ms. Its own CPU time is measured and returned
with every run, so a figure can be read against what the generator took from the machine.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import statistics
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

#: Seconds a request may take before it counts as an error.
TIMEOUT_SECONDS = 10.0
CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")


class Connections:
    """Keep-alive connections to one service: an idle one is reused, else a new one is opened."""

    def __init__(self, url: str) -> None:
        address = urlsplit(url)
        self.host, self.port = address.hostname or "127.0.0.1", address.port or 80
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened: list[asyncio.StreamWriter] = []

    async def get(self, target: str) -> int:
        """Send ``GET target`` and read the whole answer; its status code."""
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened.append(writer)
        request = f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n"
        writer.write(request.encode("ascii"))
        status = await read_response(reader)
        self.idle.append((reader, writer))
        return status

    async def close(self) -> None:
        """Close every connection this pool opened."""
        for writer in self.opened:
            writer.close()
        self.opened, self.idle = [], []


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response whose length is given by its ``content-length``; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = CONTENT_LENGTH.search(head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return int(head[9:12])


async def load(
    urls: str | list[str],
    rate: float,
    seconds: float,
    users: int,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send ``rate`` requests per second for ``seconds``; return throughput and latency figures.

    Several ``urls`` (processes serving the same model) take the requests in turn. Latency runs
    from the moment a request is sent. How far behind its schedule the generator sent requests
    is recorded apart (``lag_p99_ms``): a large lag means the generator, not the service, set the
    pace, and the latencies understate what a real client would see. ``generator_cpu_ms`` is the
    generator's own CPU time per request. Users are drawn from ``range(users)``; ``context``
    adds the same parameters to every request.
    """
    pools = [Connections(url) for url in ([urls] if isinstance(urls, str) else urls)]
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    draw = random.Random(int(rate))
    extra = f"&{urlencode(context)}" if context else ""

    async def one(pool: Connections, user_id: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                ok = await pool.get(f"/recommend?user_id={user_id}&k=10{extra}") == 200
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            ok = False  # the connection is dropped: it is in no state to be reused
        if ok:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors += 1

    cpu_before = time.process_time()
    begin = time.perf_counter()
    tasks = []
    turns = itertools.cycle(pools)
    for index in range(int(rate * seconds)):
        due = begin + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(max(0.0, time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(one(next(turns), draw.randrange(users))))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    cpu = time.process_time() - cpu_before
    for pool in pools:
        await pool.close()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "rate": rate,
        "seconds": seconds,
        "processes": len(pools),
        "sent": len(tasks),
        "errors": errors,
        "throughput": len(latencies) / elapsed,
        "p50_ms": quantiles[49],
        "p95_ms": quantiles[94],
        "p99_ms": quantiles[98],
        "max_ms": max(latencies, default=0.0),
        "lag_p99_ms": statistics.quantiles(lags, n=100)[98] if len(lags) > 1 else 0.0,
        "generator_cpu_ms": cpu * 1000 / max(len(tasks), 1),
        "generator_cpu_share": cpu / elapsed,  # of one core
    }
