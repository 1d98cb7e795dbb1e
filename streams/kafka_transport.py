"""Faust's aiokafka transport with a short fetch wait (broker URL scheme ``shopkafka://``).

Faust builds its consumer with ``fetch_max_wait_ms=1500``. Kafka answers a waiting fetch as
soon as data arrives, so there the wait only bounds idle round trips; the embedded broker
(Tansu) holds every fetch for the whole wait, which alone delayed each projection by up to
1.5 s (measured: 6 to 735 ms from produce to consume with 1500 ms, 2 to 25 ms with 20 ms). The wait
is ``Settings.kafka_fetch_max_wait_ms``; registered as a Faust transport by the project's
entry points (``faust.transports``).
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

# Set by ``streams.faust_app.faust_app`` from the settings: one Faust app per process.
fetch_max_wait_ms = 1500


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher.
        consumer._fetch_max_wait_ms = fetch_max_wait_ms
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
