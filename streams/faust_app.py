"""How every Faust app of ours is configured (the projector worker and the saga)."""

from __future__ import annotations

import faust

from streams import kafka_transport


def faust_app(
    app_id: str,
    broker: str,
    datadir: str,
    session_timeout: float,
    commit_every: int,
    fetch_max_wait_ms: int = 1500,
) -> faust.App:
    kafka_transport.fetch_max_wait_ms = fetch_max_wait_ms
    return faust.App(
        app_id,
        broker=broker,
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        # Topics are created by `shop provision` with the partition count we choose;
        # Faust must not create them with the broker's default.
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=commit_every,
        broker_commit_interval=1.0,
        # Tansu completes a group join after half the session timeout (measured: 60 s → 30 s,
        # 6 s → 3 s); a short one also hands a dead worker's partitions over quickly.
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=session_timeout / 4,
    )
