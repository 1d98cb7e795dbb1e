"""Scenarios: reads. Product search and product get on the read API against the same
query body (or document get) sent straight to the search server, with the read API's
recent answers (read_api/answers.py) and without; a cart read on the read API against a
direct Redis GET of the same key."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid

import httpx
from redis.asyncio import Redis

from benchmarks.harness import Bench, Platform, Row, ratio, say, wait_until
from benchmarks.http_commands import generator_note
from benchmarks.load import LoadResult, Target, load_for
from infra.demo_catalog import load_demo_catalog
from projections.sinks.redis_carts import CartStore
from read_api.product_queries import ProductSearch

QUERY = "headphones"


def product_ids(platform: Platform) -> list[str]:
    """The demo catalog's product ids, loaded once and projected into the index (documents
    of SKUs that only have stock, as the receipts of other scenarios make, are left out)."""
    if cached := platform.cache.get("product_ids"):
        return cached
    es, alias = platform.settings.elasticsearch_url, platform.settings.products_alias
    token = platform.admin_headers()["Authorization"].removeprefix("Bearer ")
    added = load_demo_catalog(platform.command_url, token)
    body = {"query": {"term": {"status": "active"}}, "size": 1000, "_source": False}

    def indexed() -> list[str]:
        httpx.post(f"{es}/{alias}/_refresh", timeout=5)
        hits = httpx.post(f"{es}/{alias}/_search", json=body, timeout=5).json()["hits"]["hits"]
        return [str(hit["_id"]) for hit in hits] if len(hits) >= added else []

    wait_until(indexed, 90, "the demo catalog in the search index")
    platform.cache["product_ids"] = ids = indexed()
    return ids


def _load(bench: Bench, url: str, target: Target) -> LoadResult:
    return load_for(bench.options, url, target)


def run_search(bench: Bench) -> list[Row]:
    platform = bench.platform()
    ids = product_ids(platform)
    es, alias = platform.settings.elasticsearch_url, platform.settings.products_alias
    search_body = json.dumps(ProductSearch(q=QUERY).body()).encode()
    json_type = {"Content-Type": "application/json"}

    say("search: read API vs search server")
    shop = _load(bench, platform.read_url, Target("GET", [f"/products/search?q={QUERY}"]))
    direct = _load(bench, es, Target("POST", [f"/{alias}/_search"], json_type, search_body))
    say("product get: read API vs search server")
    shop_get = _load(bench, platform.read_url, Target("GET", [f"/products/{i}" for i in ids]))
    direct_get = _load(bench, es, Target("GET", [f"/{alias}/_doc/{i}" for i in ids]))
    # The same reads when every one goes to the search server: what a read costs when its
    # answer is not kept (a query nobody asked in the last second, or a catalog that changes
    # all the time).
    say("search and product get: read API keeping no answers")
    uncached, stop = platform.another_read_api("read-api-uncached", read_cache_seconds=0)
    try:
        shop_uncached = _load(bench, uncached, Target("GET", [f"/products/search?q={QUERY}"]))
        shop_get_uncached = _load(bench, uncached, Target("GET", [f"/products/{i}" for i in ids]))
    finally:
        stop()
    return [
        Row(
            f"GET /products/search?q={QUERY}",
            shop.summary(),
            direct.summary(),
            ratio(shop.rate, direct.rate),
            f"yardstick: the same body to /_search; {generator_note(bench.options.load)}",
        ),
        Row(
            "GET /products/{id}",
            shop_get.summary(),
            direct_get.summary(),
            ratio(shop_get.rate, direct_get.rate),
            "yardstick: GET /_doc/{id} on the search server",
        ),
        Row(
            f"GET /products/search?q={QUERY}, no answer kept",
            shop_uncached.summary(),
            direct.summary(),
            ratio(shop_uncached.rate, direct.rate),
            "SHOP_READ_CACHE_SECONDS=0: every search asks the search server",
        ),
        Row(
            "GET /products/{id}, no answer kept",
            shop_get_uncached.summary(),
            direct_get.summary(),
            ratio(shop_get_uncached.rate, direct_get.rate),
            "SHOP_READ_CACHE_SECONDS=0",
        ),
    ]


def cart_ids(platform: Platform, count: int) -> list[str]:
    product_ids(platform)  # carts take only SKUs the catalog has (ADR 0034)
    headers = platform.admin_headers()
    ids = []
    with httpx.Client(base_url=platform.command_url, headers=headers, timeout=10) as client:
        for _ in range(count):
            created = client.post("/carts", json={"customer_id": str(uuid.uuid4())})
            created.raise_for_status()
            cart = str(created.json()["id"])
            added = client.post(f"/carts/{cart}/items", json={"sku": "HP-1000", "quantity": 2})
            added.raise_for_status()
            ids.append(cart)
    with httpx.Client(base_url=platform.read_url, headers=headers, timeout=10) as client:
        last = ids[-1]
        wait_until(lambda: client.get(f"/carts/{last}").json().get("lines"), 60, "carts projected")
    return ids


async def _redis_gets(
    url: str, keys: list[str], concurrency: int, duration: float, warmup: float
) -> LoadResult:
    redis = Redis.from_url(url, max_connections=concurrency)
    result = LoadResult(duration, [], 0, {})
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + duration

    async def loop() -> None:
        while (began := time.perf_counter()) < until:
            value = await redis.get(random.choice(keys))  # noqa: S311
            if began >= measure_from:
                if value is None:
                    result.errors += 1
                else:
                    result.latencies.append(time.perf_counter() - began)

    try:
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    finally:
        await redis.aclose()
    return result


def run_carts(bench: Bench) -> list[Row]:
    platform = bench.platform()
    ids = cart_ids(platform, 10 if bench.options.smoke else 200)
    headers = platform.admin_headers()
    say("cart reads: read API vs Redis GET")
    shop = _load(bench, platform.read_url, Target("GET", [f"/carts/{i}" for i in ids], headers))
    # The keys the carts projection writes.
    store = CartStore(Redis.from_url(platform.settings.redis_url), platform.settings.namespace)
    keys = [store.cart_key(i) for i in ids]
    options = bench.options
    direct = asyncio.run(
        _redis_gets(
            platform.settings.redis_url, keys, options.concurrency, options.duration, options.warmup
        )
    )
    return [
        Row(
            "GET /carts/{id}",
            shop.summary(),
            direct.summary("GET/s"),
            ratio(shop.rate, direct.rate),
            "yardstick: redis-py GET of the same key",
        )
    ]
