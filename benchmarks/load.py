"""HTTP load: ``wrk`` when it is installed, else a small HTTP/1.1 generator of our own on
raw asyncio streams (keep-alive connections).

Either runs on the same cores as the servers it loads: on a 2-core machine it takes CPU from
them, from shop and from the yardstick alike, so absolute figures are low and the ratios are
what to read. The Python generator costs more CPU per request than wrk does.

Closed loop by default (each connection sends its next request when the answer came);
with ``rate`` it is open loop at that many requests per second in total (Python only: wrk
has no open-loop mode).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from benchmarks.harness import Options, ms, percentile


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Target:
    """What to send: one of ``paths`` at random, with these headers and body, and a header
    ``fresh_key`` (if set) with a value never sent before."""

    method: str
    paths: list[str]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fresh_key: str | None = None

    def make(self) -> Request:
        headers = dict(self.headers)
        if self.fresh_key:
            headers[self.fresh_key] = f"bench-{letters_only()}"
        path = random.choice(self.paths)  # noqa: S311 - not cryptography
        return Request(self.method, path, headers, self.body)


def generator_name(wanted: str = "auto") -> str:
    """The load generator closed-loop runs use: "auto" is wrk if installed, else python."""
    if wanted == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    return wanted


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float]  # of each successful request (empty when wrk measured)
    errors: int
    statuses: dict[int, int]
    reported: tuple[int, float, float] | None = None  # wrk's (successes, p50, p99)

    @property
    def count(self) -> int:
        return self.reported[0] if self.reported else len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return self.reported[1] if self.reported else percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return self.reported[2] if self.reported else percentile(self.latencies, 99)

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
    target: Target,
    *,
    concurrency: int,
    duration: float,
    warmup: float = 0.0,
    rate: float | None = None,
    generator: str = "auto",
) -> LoadResult:
    """Send ``target``'s requests to ``url`` (scheme://host:port) for ``duration`` seconds
    after ``warmup`` seconds that are not counted."""
    if rate is None and generator_name(generator) == "wrk":
        if warmup >= 0.5:  # wrk runs whole seconds
            _wrk(url, target, concurrency, warmup)
        return _wrk(url, target, concurrency, duration)
    return asyncio.run(_run(url, target.make, concurrency, duration, warmup, rate))


_DIGITS_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def letters_only() -> str:
    """A random token without digits. An Idempotency-Key is checked for card numbers like
    everything else a client sends: 13 or more digits joined by dashes pass the Luhn check
    one time in ten and are refused (422), which a bench must not mistake for a cost."""
    return uuid.uuid4().hex.translate(_DIGITS_AS_LETTERS)


def load_for(options: Options, url: str, target: Target, rate: float | None = None) -> LoadResult:
    """``run_load`` with the run's duration, warm-up, concurrency and generator."""
    return run_load(
        url,
        target,
        concurrency=options.concurrency,
        duration=options.duration,
        warmup=options.warmup,
        rate=rate,
        generator=options.load,
    )


_WRK_SCRIPT = """
local paths = %(paths)s
local method, body, fresh = %(method)s, %(body)s, %(fresh)s
if body == "" then body = nil end
local static = %(headers)s
local threads, tid, counter = 0, 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  counter = counter + 1
  local headers = {}
  for k, v in pairs(static) do headers[k] = v end
  if fresh ~= "" then headers[fresh] = %(prefix)s .. "-t" .. tid .. "-n" .. counter end
  return wrk.format(method, paths[math.random(#paths)], headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nBENCH {"requests": %%d, "us": %%d, "p50": %%d, "p99": %%d, '
    .. '"status": %%d, "socket": %%d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def _lua(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    return json.dumps(value)  # a JSON string is a valid Lua string literal here


def _wrk(url: str, target: Target, concurrency: int, duration: float) -> LoadResult:
    script = _WRK_SCRIPT % {
        "paths": _lua(target.paths),
        "method": _lua(target.method),
        "body": _lua(target.body.decode()),
        "fresh": _lua(target.fresh_key or ""),
        "headers": _lua(target.headers),
        "prefix": _lua(f"bench-{letters_only()[:12]}"),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        argv = ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency)]
        argv += ["-d", f"{max(1, round(duration))}s", "--timeout", "30s", "-s", lua.name, url]
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    figures = json.loads(line.removeprefix("BENCH "))
    ok = figures["requests"] - figures["status"]
    reported = (ok, figures["p50"] / 1e6, figures["p99"] / 1e6)
    errors = figures["status"] + figures["socket"]
    return LoadResult(figures["us"] / 1e6, [], errors, {}, reported)
