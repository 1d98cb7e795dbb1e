"""Shared fixtures: one embedded stack per test session, one namespace per test.

Set SHOP_DATABASE_URL, SHOP_KAFKA_BOOTSTRAP, SHOP_ELASTICSEARCH_URL and SHOP_REDIS_URL
to run the suite against servers of your own; each test still gets its own namespace
(topics, schemas, index alias, consumer group), so runs never see each other's data.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from infra.embedded.services import embedded_stack
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.namespaces import free_port as free_port  # tests import it from here
from tests.support.namespaces import provisioned_namespace

_FREE = {
    "embedded_postgres_port": 0,
    "embedded_kafka_port": 0,
    "embedded_elasticsearch_port": 0,
    "embedded_redis_port": 0,
    "embedded_smtp_port": 0,
}


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The real servers: the embedded stack on free ports, or the ones the environment names."""
    # Readable by the postgres system user the embedded stack runs as (see ADR 0003).
    data_dir = Path(tempfile.mkdtemp(prefix="shop-test-"))
    data_dir.chmod(0o755)
    settings = Settings().model_copy(update={"data_dir": data_dir, **_FREE})
    with Supervisor(data_dir / "logs") as supervisor, embedded_stack(settings, supervisor) as s:
        if not settings.database_url:  # ours: a throwaway cluster, durability is not under test
            _tune_test_postgres(s.database_url)
        yield s


def _tune_test_postgres(url: str) -> None:
    """No fsync on the embedded test cluster: each test provisions a namespace (DDL that
    commits many times), and a crash would lose nothing but a test run's data."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {name} = off")
        conn.execute("SELECT pg_reload_conf()")


# A module marked ``shared_namespace`` gets one namespace for all its tests: provisioning
# (six contexts' tables, topics, the index) costs more than most API tests, and the suite is
# CPU-bound on two cores. Only for tests that make their own ids and never look at the whole
# namespace (a count of every event, a rate-limit bucket, a read model compared in full).
SHARED_NAMESPACE = "shared_namespace"


@pytest.fixture(scope="module")
def module_settings(stack: Settings) -> Settings:
    """One provisioned namespace for a whole module (see ``SHARED_NAMESPACE``)."""
    return provisioned_namespace(stack)


@pytest.fixture
def settings(request: pytest.FixtureRequest, stack: Settings) -> Settings:
    """Settings for one test: its own namespace, provisioned, with free API ports; the
    module's namespace in a module marked ``shared_namespace``."""
    if request.node.get_closest_marker(SHARED_NAMESPACE):
        shared: Settings = request.getfixturevalue("module_settings")
        return shared
    return provisioned_namespace(stack)


@pytest.fixture
def processes(settings: Settings, tmp_path: Path) -> Iterator[Supervisor]:
    """A supervisor for the platform processes a test starts; stops them all afterwards."""
    with Supervisor(tmp_path / "logs") as supervisor:
        yield supervisor


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{SHARED_NAMESPACE}: the module's tests share one provisioned namespace"
    )


def pytest_report_header() -> str:
    external = [
        name
        for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP", "ELASTICSEARCH_URL", "REDIS_URL")
        if os.environ.get(f"SHOP_{name}")
    ]
    return "servers: " + (
        ", ".join(external) + " from the environment" if external else "embedded stack"
    )


# The files that run longest (measured with --durations on two cores), longest first. The
# workers take whole files in collection order (``--dist loadfile``), so a long file met last
# keeps one worker busy while the others idle; started first, the short files fill the gaps
# at the end. Only the order depends on this list: a file missing from it runs all the same.
LONGEST_FIRST = (
    "tests/e2e/test_first_hour.py",
    "tests/integration/test_notifications.py",
    "tests/e2e/test_shop_run.py",
    "tests/integration/test_order_saga.py",
    "tests/e2e/test_docs_render.py",
    "tests/integration/test_metrics.py",
    "tests/integration/test_product_search_api.py",
    "tests/integration/test_bench_smoke.py",
    "tests/integration/test_product_projector.py",
    "tests/deploy/test_tools.py",
    "tests/integration/test_projector_catch_up.py",
    "tests/integration/test_rebuild.py",
    "tests/integration/test_tracing.py",
    "tests/integration/test_tracing_client_spans.py",
    "tests/integration/test_notifications_smtp_failures.py",
    "tests/integration/test_live_equals_rebuilt.py",
    "tests/integration/test_order_history.py",
    "tests/integration/test_cart_read_model.py",
    "tests/integration/test_broker_outage.py",
    "tests/e2e/test_customer_emails_and_recommendations.py",
    "tests/integration/test_card_data_everywhere.py",
    "tests/integration/test_checkout.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest files first, then the rest in their usual order, the unit tests last; the
    longest files' tests are marked ``slow`` (``make test-fast`` leaves them out)."""
    root = Path(__file__).parent.parent
    if stale := [path for path in LONGEST_FIRST if not (root / path).is_file()]:
        raise pytest.UsageError(f"LONGEST_FIRST names files that do not exist: {stale}")
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}

    def order(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        if path in rank:
            return (0, rank[path])
        return (2, 0) if path.startswith("tests/unit/") else (1, 0)

    for item in items:
        if item.nodeid.split("::", 1)[0] in rank:
            item.add_marker(pytest.mark.slow)
    items.sort(key=order)  # stable: tests keep their order within a file
