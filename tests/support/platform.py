"""Starting platform processes (relay, worker, APIs) as real subprocesses in tests."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from elasticsearch import Elasticsearch

from infra.embedded.supervisor import Supervisor
from infra.platform import service_env
from infra.settings import Settings


def start(supervisor: Supervisor, settings: Settings, name: str, *args: str) -> None:
    supervisor.start(
        name,
        [sys.executable, "-m", "infra.cli", name, *args],
        env=service_env(settings),
        signal_group=False,
    )


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll until ``check`` returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.25)


def indexed_products(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every product document behind the alias, by id."""
    es = Elasticsearch(settings.elasticsearch_url)
    try:
        es.indices.refresh(index=settings.products_alias)
        hits = es.search(index=settings.products_alias, size=10_000, query={"match_all": {}})[
            "hits"
        ]["hits"]
        return {hit["_id"]: hit["_source"] for hit in hits}
    finally:
        es.close()
