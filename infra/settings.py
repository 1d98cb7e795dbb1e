"""All settings in one place, read from the environment (prefix ``SHOP_``).

A service URL left empty means "start the embedded one" (see ``infra.embedded``);
a URL that is set points the platform at that server and nothing is started for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore")

    # Backing services. Empty = embedded.
    database_url: str = Field(default="", description="postgresql://user:pass@host:port/db")
    kafka_bootstrap: str = Field(default="", description="host:port[,host:port]")
    elasticsearch_url: str = Field(default="", description="http://host:port")
    redis_url: str = Field(default="", description="redis://host:port/db")
    smtp_url: str = Field(
        default="", description="smtp://[user:pass@]host:port (smtps:// for implicit TLS)"
    )

    # Prefix of every topic, schema, index and consumer group, so that several
    # deployments (or test runs) can share one set of servers without meeting.
    namespace: str = Field(default="shop", pattern=r"^[a-z][a-z0-9_]{0,30}$")

    # Embedded stack: where its data lives and which ports it binds (0 = any free port).
    data_dir: Path = Path(".data")
    embedded_postgres_port: int = 15432
    embedded_kafka_port: int = 19092
    embedded_elasticsearch_port: int = 19200
    embedded_redis_port: int = 16379
    embedded_smtp_port: int = 11025

    # Keys (ADR 0021, 0022): given directly, or read from a JSON file with the same names.
    # The embedded stack makes development keys when none is configured.
    keys_file: Path | None = None
    event_key: SecretStr = SecretStr("")
    event_previous_keys: SecretStr = SecretStr("")
    master_key: SecretStr = SecretStr("")
    master_previous_keys: SecretStr = SecretStr("")
    email_hash_key: SecretStr = SecretStr("")

    # Connections each process keeps open to Postgres, besides each context's event store.
    postgres_pool_size: int = Field(default=10, ge=1)
    # Aggregates each process keeps in memory per context (0: none), see event_store_env.
    aggregate_cache_size: int = Field(default=10_000, ge=0)

    # HTTP APIs.
    api_host: str = "127.0.0.1"
    command_api_port: int = 8000
    read_api_port: int = 8001
    # The read API as clients reach it (e.g. https://read.shop.example.com behind a gateway),
    # for the Location headers of the command API's answers. None or empty: where it listens,
    # http://api_host:read_api_port, which only a client on this machine can follow. A path
    # prefix is kept (https://shop.example.com/read); a trailing / is dropped.
    read_api_public_url: str | None = Field(
        default=None, pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$"
    )
    # Processes per API (uvicorn workers sharing the port). Each holds its own pools.
    api_workers: int = Field(default=1, ge=1, le=64)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, as uvicorn's forwarded_allow_ips). Empty: none, the socket peer
    # is the client address (ADR 0019, 0028).
    trusted_proxies: str = ""
    max_body_bytes: int = 64 * 1024
    # A request that takes longer is answered 503 (a command may still complete: retry it
    # with the same Idempotency-Key).
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    # Log lines: readable text (a terminal), or one JSON object a line (clusters; ADR 0030).
    log_format: Literal["text", "json"] = "text"

    # Health and /metrics of the processes that are not APIs (ADR 0029), bound on api_host.
    relay_metrics_port: int = Field(default=9101, ge=0, le=65535)
    worker_metrics_port: int = Field(default=9102, ge=0, le=65535)
    saga_metrics_port: int = Field(default=9103, ge=0, le=65535)
    # A worker whose projection is behind and has not moved for this long is unhealthy.
    worker_stuck_seconds: float = Field(default=60.0, gt=0)
    # The Prometheus server `shop run` starts when the `prometheus` binary is installed.
    prometheus_port: int = Field(default=9090, ge=0, le=65535)

    # Tokens (ADR 0018). ``auth_keys_dir`` holds Ed25519 keys as ``<kid>.pem`` (private,
    # signs) or ``<kid>.pub.pem`` (verifies only); the embedded stack generates one.
    # ``auth_signing_key_id`` picks the signing key (empty: the greatest kid present).
    auth_keys_dir: str = ""
    auth_signing_key_id: str = ""
    auth_issuer: str = "urn:shop:identity"
    auth_audience: str = "urn:shop:api"
    access_token_seconds: int = Field(default=15 * 60, ge=60, le=15 * 60)
    refresh_token_seconds: int = Field(default=14 * 24 * 3600, ge=3600)

    # Redis as the APIs use it (rate limits, carts, recommendations): a stalled server costs
    # a request this long, then the limiter lets it through and reads answer 503 (ADR 0028).
    redis_socket_timeout_seconds: float = Field(default=0.25, gt=0)
    redis_connect_timeout_seconds: float = Field(default=0.25, gt=0)

    # Token buckets in Redis (ADR 0019): refill per second and burst, per key.
    rate_per_address: float = Field(default=50.0, gt=0)
    burst_per_address: int = Field(default=200, ge=1)
    rate_per_user: float = Field(default=20.0, gt=0)
    burst_per_user: int = Field(default=100, ge=1)
    # Logins: per address and per e-mail address, much stricter (guessing passwords).
    login_rate_per_minute: float = Field(default=5.0, gt=0)
    login_burst: int = Field(default=5, ge=1)
    # Registrations (argon2 per request) per address.
    registration_rate_per_minute: float = Field(default=10.0, gt=0)
    registration_burst: int = Field(default=10, ge=1)

    # Streams.
    kafka_partitions: int = Field(default=4, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    # Consumer-group session: how soon a dead worker's partitions move to another one.
    kafka_session_timeout_seconds: float = Field(default=6.0, ge=3.0)
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    # Projectors and the saga apply what has arrived after at most this long: an idle stream
    # is flushed at once, and under load a batch grows while the previous one is applied.
    stream_flush_seconds: float = Field(default=0.01, gt=0, le=5)
    stream_batch_size: int = Field(default=500, ge=1)
    # How long the read API may serve a search or product page again while the product index
    # has applied nothing new (read_api/answers.py); 0 asks the search server every time.
    read_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # How long a consumer's fetch may wait for data. Kafka answers as soon as data arrives;
    # the embedded broker waits this long every time, so it bounds visibility there.
    kafka_fetch_max_wait_ms: int = Field(default=25, ge=1, le=10_000)

    # The order saga (ADR 0010).
    saga_payment_timeout_seconds: float = Field(
        default=900.0, gt=0, description="stock waits this long for a payment method"
    )
    saga_gateway_attempts: int = Field(default=3, ge=1)
    saga_retry_seconds: float = Field(default=0.5, gt=0)
    saga_timer_seconds: float = Field(default=1.0, gt=0)

    # The payment processor (ADR 0007, 0011): each call's deadline, and the circuit breaker
    # that stops calling after that many calls in a row without an answer, for that long.
    payments_gateway_timeout_seconds: float = Field(default=5.0, gt=0)
    payments_gateway_breaker_failures: int = Field(default=5, ge=1)
    payments_gateway_breaker_reset_seconds: float = Field(default=10.0, gt=0)
    # The sandbox processor: its account (empty: named after the payments schema, so one per
    # namespace), the latency of every call, and how long ``tok_timeout`` keeps it silent.
    payments_sandbox_account: str = ""
    payments_sandbox_latency_seconds: float = Field(default=0.0, ge=0)
    payments_sandbox_timeout_seconds: float = Field(default=1.0, ge=0)

    # Notifications (ADR 0013).
    mail_from: str = "Shop <no-reply@shop.example>"
    # Delivery attempts per batch before the worker backs off and tries the batch again.
    notification_attempts: int = Field(default=3, ge=1)
    # How long a worker holds a notification it is sending; another waits that long.
    notification_lease_seconds: float = Field(default=60.0, gt=0)
    # Events older than this are recorded as skipped instead of mailed (first deployment).
    notification_max_age_hours: float = Field(default=72.0, gt=0)

    def topic(self, context: str) -> str:
        return f"{self.namespace}.{context}.events"

    def schema_for(self, context: str) -> str:
        return f"{self.namespace}_{context}"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.namespace}.deadletter"

    @property
    def products_alias(self) -> str:
        return f"{self.namespace}-products"
