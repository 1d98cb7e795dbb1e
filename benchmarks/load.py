"""A small HTTP/1.1 load generator: keep-alive connections on raw asyncio streams.

Portable (no wrk needed) and cheap per request, but it runs in Python on the same cores as
the servers it loads: on a 2-core machine it takes CPU from them, from shop and from the
yardstick alike, so absolute figures are low and ratios are what to read.

Closed loop by default (each connection sends its next request when the answer came);
with ``rate`` it is open loop at that many requests per second in total.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from benchmarks.harness import ms, percentile


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float]
    errors: int
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    def summary(self, unit: str = "req/s") -> str:
        text = f"{self.rate:,.0f} {unit}, p50 {ms(self.p50)}, p99 {ms(self.p99)}"
        return text + (f", {self.errors} errors" if self.errors else "")


def _encode(request: Request, host: str) -> bytes:
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    if request.body or request.method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + request.body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; its status and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() != "close"


async def _connection(
    url: str,
    make: Callable[[], Request],
    until: float,
    measure_from: float,
    interval: float | None,
    result: LoadResult,
) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    next_at = time.perf_counter()
    try:
        while (now := time.perf_counter()) < until:
            if interval is not None:
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                next_at += interval
            started = time.perf_counter()
            try:
                writer.write(_encode(make(), parts.netloc))
                await writer.drain()
                status, keep = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if started >= measure_from:
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    result.latencies.append(time.perf_counter() - started)
                else:
                    result.errors += 1
            if not keep:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def _run(
    url: str,
    make: Callable[[], Request],
    concurrency: int,
    duration: float,
    warmup: float,
    rate: float | None,
) -> LoadResult:
    result = LoadResult(duration, [], 0, {})
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + duration
    interval = concurrency / rate if rate else None
    await asyncio.gather(
        *(_connection(url, make, until, measure_from, interval, result) for _ in range(concurrency))
    )
    return result


def run_load(
    url: str,
    make: Callable[[], Request],
    *,
    concurrency: int,
    duration: float,
    warmup: float = 0.0,
    rate: float | None = None,
) -> LoadResult:
    """Send ``make()``'s requests to ``url`` (scheme://host:port) for ``duration`` seconds
    after ``warmup`` seconds that are not counted."""
    return asyncio.run(_run(url, make, concurrency, duration, warmup, rate))
