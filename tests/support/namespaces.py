"""A namespace of a test's own on the session's servers: topics, schemas, index alias and
consumer group under a fresh prefix, provisioned, with free ports for the APIs and metrics."""

from __future__ import annotations

import socket
import uuid
from typing import Any

from infra.provision import provision
from infra.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def provisioned_namespace(stack: Settings, **changes: Any) -> Settings:
    """``stack``'s settings with a namespace of their own, provisioned, free API and metrics
    ports, a quick relay poll, and ``changes``."""
    namespaced = stack.model_copy(
        update={
            "namespace": f"t{uuid.uuid4().hex[:12]}",
            "command_api_port": free_port(),
            "read_api_port": free_port(),
            "relay_metrics_port": free_port(),
            "worker_metrics_port": free_port(),
            "saga_metrics_port": free_port(),
            "relay_poll_seconds": 0.2,
            **changes,
        }
    )
    provision(namespaced)
    return namespaced
