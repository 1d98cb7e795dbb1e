"""Right to erasure, checked the hard way: a user's e-mail, name and address are searched for
in everything the platform stores or logs, before and after the erasure.

The platform runs as real processes (command API, read API, relay, Faust worker), so their
logs, the topics and the read models are the ones production would have.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from elasticsearch import Elasticsearch
from psycopg import sql
from redis import Redis

from domain.identity import User
from domain.personal_data import ERASED
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.auth import as_admin
from tests.support.bodies import product_json
from tests.support.kafka import read_topic
from tests.support.platform import eventually, start
from tests.support.privacy_scan import everywhere

pytestmark = pytest.mark.integration

CARD = "4111 1111 1111 1111"


def someone() -> dict[str, str]:
    tag = uuid4().hex[:10]
    return {
        "email": f"zelda.{tag}@erasure-test.example.org",
        "name": f"Zelda Quintessa {tag}",
        "new_name": f"Zelda Q. Marchbanks {tag}",
        "line1": f"{tag} Obscure Lane",
        "new_line1": f"{tag} Forgotten Row",
        "city": f"Vexhampton{tag}",
    }


PASSWORD = "a passphrase for the scan"


def platform(processes: Supervisor, settings: Settings) -> tuple[httpx.Client, httpx.Client]:
    for name in ("command-api", "read-api", "relay", "worker"):
        start(processes, settings, name)
    clients = []
    for port in (settings.command_api_port, settings.read_api_port):
        client = httpx.Client(
            base_url=f"http://{settings.api_host}:{port}", timeout=10, headers=as_admin(settings)
        )
        eventually(partial(_ready, client), 60, f"API on port {port} ready")
        clients.append(client)
    return clients[0], clients[1]


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def created(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def use_the_platform(commands: httpx.Client, reads: httpx.Client, p: dict[str, str]) -> UUID:
    """Register, change the profile, fill a cart, place an order, read them back."""
    address = {"line1": p["line1"], "postal_code": "10115", "city": p["city"], "country": "DE"}
    body = {
        "email": p["email"],
        "password": PASSWORD,
        "display_name": p["name"],
        "address": address,
    }
    user = created(commands.post("/users", json={**body, "phone": "+4930123456"}, headers=_key()))[
        "id"
    ]
    new_address = {**address, "line1": p["new_line1"]}
    created(
        commands.put(
            f"/users/{user}/profile", json={"display_name": p["new_name"], "address": new_address}
        )
    )
    sku = f"ERA-{uuid4().hex[:8].upper()}"
    product = product_json(sku, "Lamp", "34.90", brand="Lumen", category="home")
    created(commands.post("/products", json=product))
    cart = created(commands.post("/carts", json={"customer_id": user}, headers=_key()))["id"]
    created(commands.post(f"/carts/{cart}/items", json={"sku": sku, "quantity": 2}))
    line = {"sku": sku, "quantity": 2, "unit_price": {"amount": "34.90", "currency": "EUR"}}
    order = {"customer_id": user, "cart_id": cart, "lines": [line]}
    created(commands.post("/orders", json=order, headers=_key()))

    # Card data on both APIs: refused, and (checked by the scan) never logged.
    refused = commands.post("/carts", json={"customer_id": user, "note": CARD}, headers=_key())
    assert refused.status_code == 422
    assert refused.json()["code"] == "card_data_refused"
    refused = reads.get("/products/search", params={"q": CARD.replace(" ", "")})
    assert refused.status_code == 422
    assert CARD.replace(" ", "") not in refused.text

    eventually(lambda: _orders_of(reads, user), 60, "the order in the customer's history")
    eventually(
        lambda: reads.get(f"/customers/{user}/cart").status_code == 200, 60, "the cart read model"
    )
    return UUID(user)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid4().hex}


def _orders_of(reads: httpx.Client, user: UUID | str) -> list[Any]:
    response = reads.get(f"/customers/{user}/orders")
    return list(response.json()["items"]) if response.status_code == 200 else []


def erased_on_the_bus(settings: Settings, user: UUID) -> bool:
    envelopes = read_topic(settings.kafka_bootstrap, settings.topic("identity"), 3, timeout=5)
    return any(e.type == "identity.UserErased" and e.aggregate_id == str(user) for e in envelopes)


def log_dirs(settings: Settings, processes: Supervisor) -> list[Path]:
    assert processes.log_dir is not None
    # The stack's own logs (Postgres, Kafka...) and the worker's local state directory too.
    faust = settings.data_dir / "faust" / settings.namespace
    return [processes.log_dir, settings.data_dir / "logs", *([faust] if faust.exists() else [])]


def test_after_erasure_no_store_topic_index_cache_or_log_holds_the_users_personal_data(
    settings: Settings, processes: Supervisor
) -> None:
    person = someone()
    needles = list(person.values())
    commands, reads = platform(processes, settings)
    user = use_the_platform(commands, reads, person)

    # Before: only the application, which holds the user's key, can read them.
    before = everywhere(
        settings, [*needles, CARD, CARD.replace(" ", "")], log_dirs(settings, processes)
    )
    assert before, "the scan finds nothing even where the data must be"
    assert all("as the application reads them" in hit for hit in before), before
    assert {hit.rsplit(": ", 1)[1] for hit in before} >= {
        person["email"],
        person["new_name"],
        person["new_line1"],
    }

    erased = created(commands.post(f"/users/{user}/erase"))
    again = created(commands.post(f"/users/{user}/erase"))
    assert again["version"] == erased["version"]
    eventually(lambda: erased_on_the_bus(settings, user), 60, "the erasure on the bus")

    # The logs the scan reads are the real ones: requests were logged, query strings not.
    assert processes.log_dir is not None
    assert "POST /users" in (processes.log_dir / "command-api.log").read_text()
    assert "GET /products/search " in (processes.log_dir / "read-api.log").read_text()
    assert (processes.log_dir / "worker.log").stat().st_size > 0

    after = everywhere(
        settings, [*needles, CARD, CARD.replace(" ", "")], log_dirs(settings, processes)
    )
    assert after == []

    # The person is gone, their orders stay (pseudonymous), their address can register anew.
    identity = bootstrap.application(settings, "identity")
    try:
        gone: object = identity.repository.get(user)
        assert isinstance(gone, User)
        assert (gone.email, gone.display_name, gone.address) == (ERASED, ERASED, None)
    finally:
        identity.close()
    assert len(_orders_of(reads, user)) == 1
    changed = commands.put(f"/users/{user}/profile", json={"display_name": "Back"})
    assert changed.status_code == 409
    assert changed.json()["code"] == "user_erased"
    body = {"email": person["email"], "password": PASSWORD, "display_name": "Someone new"}
    assert commands.post("/users", json=body).status_code == 201


def test_the_scan_finds_what_is_planted_in_each_place(settings: Settings, tmp_path: Path) -> None:
    tag = uuid4().hex
    text, raw, message, document, cached, logged = (
        f"{place}-{tag}" for place in ("text", "bytea", "kafka", "es", "redis", "log")
    )
    schema = settings.schema_for("identity")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        table = sql.Identifier(schema, "planted")
        conn.execute(sql.SQL("CREATE TABLE {} (note text, blob bytea)").format(table))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table), (text, raw.encode()))
    producer = bootstrap.kafka_producer(settings)
    producer.send(settings.dead_letter_topic, value=f"poison {message}".encode()).get(timeout=10)
    producer.close()
    es = Elasticsearch(settings.elasticsearch_url)
    es.index(index=f"{settings.namespace}-planted", id="1", document={"note": document})
    es.close()
    redis = Redis.from_url(settings.redis_url)
    redis.hset(f"{settings.namespace}:planted", "who", cached)
    (tmp_path / "worker.log").write_text(f"INFO something about {logged}\n")

    hits = everywhere(settings, [text, raw, message, document, cached, logged], [tmp_path])

    redis.delete(f"{settings.namespace}:planted")
    redis.close()
    assert sorted(hits) == sorted(
        [
            f"postgres {schema}.planted: {text}",
            f"postgres {schema}.planted: {raw}",
            f"kafka {settings.dead_letter_topic}: {message}",
            f"elasticsearch {settings.namespace}-planted: {document}",
            f"redis {settings.namespace}:planted: {cached}",
            f"log worker.log: {logged}",
        ]
    )
