"""Load test of level 2's serving API: /recommend throughput and latency, steady and in a swap.

    python -m benchmarks.serve_load [--rates 50 100 200] [--seconds 10]

Open-loop load: requests start on a fixed schedule whatever the answers' speed, so a slow service
shows up as latency instead of being hidden by a client that waits. Each rate runs for a bounded
time against the service on 127.0.0.1 (started by the deploy stage if it is not running); then
the same at the middle rate while the champion alias moves to a new version and back, and while
three clients send hostile queries (10,000 parameters, 49 KB) back to back. Results go to
``state/bench/serve.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import threading
import time

import httpx

from benchmarks.open_loop import load
from benchmarks.results import write_results
from level2_cicd.config import DEFAULT_CONFIG, load_config
from level2_cicd.runtime import use_local_state

#: Like the query that once took 14 s to answer and stalled the service (11,000 parameters, 62 KB);
#: 10,000 (49 KB) stay under httpx's longest URL.
HOSTILE_QUERY = "user_id=1&" + "&".join(f"{index}=" for index in range(10_000))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the request rates to try, how long each lasts, which users to ask for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 100, 200], help="requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each rate")
    parser.add_argument("--users", type=int, default=5000, help="user ids drawn from 0..users-1")
    return parser.parse_args(argv)


async def load_under_attack(url: str, rate: int, seconds: float, users: int) -> dict[str, float]:
    """``load`` while three clients send ``HOSTILE_QUERY`` back to back; adds their figures.

    The attackers write prepared bytes on their own connections: building a 49 KB URL with httpx
    takes the client longer than the service takes to refuse it, and would slow the load itself.
    """
    address = httpx.URL(url)
    request = (f"GET /recommend?{HOSTILE_QUERY} HTTP/1.1\r\nHost: {address.host}\r\n\r\n").encode()
    hostile: list[float] = []
    stop = asyncio.Event()

    async def attacker() -> None:
        reader, writer = await asyncio.open_connection(address.host, address.port)
        try:
            while not stop.is_set():
                started = time.perf_counter()
                writer.write(request)
                await read_response(reader)
                hostile.append((time.perf_counter() - started) * 1000)
        finally:
            writer.close()

    attackers = [asyncio.create_task(attacker()) for _ in range(3)]
    result = await load(url, rate, seconds, users)
    stop.set()
    await asyncio.gather(*attackers)
    return {
        **result,
        "hostile_answered": len(hostile),
        "hostile_p50_ms": statistics.median(hostile),
    }


async def read_response(reader: asyncio.StreamReader) -> None:
    """Read one HTTP/1.1 response whose length is given by its ``content-length``."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)


def swap_twice(model_name: str, seconds: float) -> threading.Thread:
    """Register the champion again as a new version, point the alias at it, then back."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    champion = client.get_model_version_by_alias(model_name, "champion")
    copy = mlflow.register_model(f"models:/{model_name}/{champion.version}", model_name)

    def swap() -> None:
        # The service polls the alias every few seconds: leave each version up long enough.
        time.sleep(seconds / 4)
        client.set_registered_model_alias(model_name, "champion", copy.version)
        time.sleep(seconds / 2)
        client.set_registered_model_alias(model_name, "champion", champion.version)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    """Run every phase against the running service, print a table, write the results file."""
    args = parse_args(argv)
    config = load_config(DEFAULT_CONFIG)
    use_local_state(config.tracking.state_dir)
    url = f"http://{config.serving.host}:{config.serving.port}"
    try:
        httpx.get(f"{url}/health", timeout=2).raise_for_status()
    except httpx.HTTPError:
        print(
            f"No service at {url}: run `make level2` (or the deploy stage) first.", file=sys.stderr
        )
        return 1
    results = []
    for rate in args.rates:
        print(f"steady load at {rate} requests/s for {args.seconds:.0f} s ...", flush=True)
        results.append(
            {"phase": "steady", **asyncio.run(load(url, rate, args.seconds, args.users))}
        )
    middle = sorted(args.rates)[len(args.rates) // 2]
    print(f"load at {middle} requests/s while the champion alias moves twice ...", flush=True)
    swapping = swap_twice(config.registry.model_name, args.seconds)
    results.append({"phase": "swap", **asyncio.run(load(url, middle, args.seconds, args.users))})
    swapping.join()
    print(f"load at {middle} requests/s while 3 clients send hostile queries ...", flush=True)
    under_attack = asyncio.run(load_under_attack(url, middle, args.seconds, args.users))
    results.append({"phase": "hostile", **under_attack})

    header = ("phase", "rate", "sent", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print("\n" + f"{header[0]:<8}" + "".join(f"{name:>9}" for name in header[1:]))
    for row in results:
        print(
            f"{row['phase']:<8}{row['rate']:>9}{row['sent']:>9}{row['errors']:>9}"
            f"{row['throughput']:>9.1f}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}{row['p99_ms']:>9.1f}"
        )
    print(
        f"hostile queries answered: {under_attack['hostile_answered']}, "
        f"median {under_attack['hostile_p50_ms']:.1f} ms each"
    )
    print(f"\nresults: {write_results('serve', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
