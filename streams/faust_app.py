"""How every Faust app of ours is configured (the projector worker and the saga)."""

from __future__ import annotations

from typing import Protocol

import faust

from streams import kafka_transport


class ConsumerConfig(Protocol):
    """What a consumer of ours says about itself (``WorkerConfig``, ``SagaConfig``)."""

    @property
    def app_id(self) -> str: ...
    @property
    def broker(self) -> str: ...
    @property
    def datadir(self) -> str: ...
    @property
    def session_timeout(self) -> float: ...
    @property
    def batch_size(self) -> int: ...  # offsets are committed at least every batch
    @property
    def fetch_max_wait_ms(self) -> int: ...


def faust_app(config: ConsumerConfig) -> faust.App:
    kafka_transport.fetch_max_wait_ms = config.fetch_max_wait_ms
    session_timeout = config.session_timeout
    return faust.App(
        config.app_id,
        broker=config.broker,
        store="memory://",
        datadir=config.datadir,
        web_enabled=False,
        # Topics are created by `shop provision` with the partition count we choose;
        # Faust must not create them with the broker's default.
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=config.batch_size,
        broker_commit_interval=1.0,
        # Tansu completes a group join after half the session timeout (measured: 60 s → 30 s,
        # 6 s → 3 s); a short one also hands a dead worker's partitions over quickly.
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=session_timeout / 4,
    )
