"""Events encrypted at rest in every context (and snapshots), key rotation, the keyed e-mail
hash, and card data refused on both APIs."""

from __future__ import annotations

import hashlib
import hmac
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import MapperDeserialisationError
from fastapi.testclient import TestClient
from psycopg import sql
from pydantic import SecretStr

from commands.catalog.application import CatalogApplication
from commands.identity.application import IdentityApplication
from commands.privacy.keyring import encode_key, new_key
from domain.money import Money
from infra import apps, bootstrap
from infra.keys import load_keys
from infra.settings import Settings
from tests.support.apis import api_fixture
from tests.support.catalog import a_product
from tests.support.privacy_scan import postgres_hits

pytestmark = pytest.mark.integration


def raw_rows(settings: Settings, context: str, table: str) -> list[bytes]:
    with psycopg.connect(settings.database_url) as conn:
        name = sql.Identifier(settings.schema_for(context), table)
        return [bytes(r[0]) for r in conn.execute(sql.SQL("SELECT state FROM {}").format(name))]


def catalog(settings: Settings) -> CatalogApplication:
    app = bootstrap.application(settings, "catalog")
    assert isinstance(app, CatalogApplication)
    return app


def test_events_and_snapshots_are_stored_encrypted_and_read_back(settings: Settings) -> None:
    app = catalog(settings)
    try:
        product = app.add_product(a_product("ENC-0001", name="Conspicuous Lamp")).id
        for cents in range(1, 101):  # the catalog snapshots a product every 100 events
            app.change_price(product, Money(1000 + cents, "EUR"))
        assert app.get_product(product).price.minor == 1100
    finally:
        app.close()

    events = raw_rows(settings, "catalog", "catalog_events")
    snapshots = raw_rows(settings, "catalog", "catalog_snapshots")
    assert len(events) == 101
    assert snapshots, "no snapshot was taken"
    for state in events + snapshots:
        assert b"Conspicuous" not in state
        assert b"ENC-0001" not in state
        assert not state.startswith(b"{")


def rotated(settings: Settings, *, keep_old: bool) -> Settings:
    keys = load_keys(settings)
    return settings.model_copy(
        update={
            "event_key": SecretStr(encode_key(new_key())),
            "event_previous_keys": SecretStr(keys.event_key if keep_old else ""),
        }
    )


def test_a_rotated_event_key_reads_old_events_and_writes_new_ones_with_the_new_key(
    settings: Settings,
) -> None:
    app = catalog(settings)
    before = app.add_product(a_product("ROT-0001")).id
    app.close()

    after_rotation = rotated(settings, keep_old=True)
    app = catalog(after_rotation)
    try:
        after = app.add_product(a_product("ROT-0002")).id
        assert app.get_product(before).sku == "ROT-0001"
        assert app.get_product(after).sku == "ROT-0002"
    finally:
        app.close()

    app = catalog(rotated(settings, keep_old=False))
    try:
        with pytest.raises(MapperDeserialisationError):
            app.get_product(before)
    finally:
        app.close()


def test_email_claims_are_a_keyed_hash_the_login_lookup_shares(settings: Settings) -> None:
    app = bootstrap.application(settings, "identity")
    assert isinstance(app, IdentityApplication)
    email = f"claims-{uuid4().hex[:8]}@example.org"
    try:
        user = app.register(
            uuid4(), email=email, password="a long enough password", display_name="Claimant"
        ).id
        assert app.user_for_email(email.upper()) == user
    finally:
        app.close()

    with psycopg.connect(settings.database_url) as conn:
        name = sql.Identifier(settings.schema_for("identity"), "user_emails")
        (stored,) = [r[0] for r in conn.execute(sql.SQL("SELECT email_hash FROM {}").format(name))]
    key = load_keys(settings).email_hash_secret()
    assert stored == hmac.new(key, email.encode(), hashlib.sha256).hexdigest()
    assert stored != hashlib.sha256(email.encode()).hexdigest()


command_api = api_fixture("command", admin=True)
read_api = api_fixture("read", admin=True)


CARD = "5555 5555 5555 4444"


def assert_refused(response: object, field: str) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "card_data_refused"
    assert problem["errors"][0]["field"] == field
    assert "5555" not in response.text
    assert "4444" not in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": f"paid with {CARD}"}, "body.description"),
        ({"description": "x", "cvv": "123"}, "body.cvv"),
        ({"description": "x", "extra": [{"pan": int(CARD.replace(" ", ""))}]}, "body.extra.0.pan"),
    ],
)
def test_a_card_number_or_security_code_in_any_command_body_is_refused(
    command_api: TestClient, settings: Settings, body: dict[str, object], field: str
) -> None:
    app = catalog(settings)
    product = app.add_product(a_product("PCI-0001")).id
    app.close()

    response = command_api.put(f"/products/{product}/description", json=body)

    assert_refused(response, field)
    app = catalog(settings)
    try:
        assert app.get_product(product).version == 1  # nothing appended
    finally:
        app.close()


def test_card_data_in_a_form_body_path_or_query_is_refused_on_both_apis(
    command_api: TestClient, read_api: TestClient
) -> None:
    assert_refused(
        command_api.post("/carts", data={"customer_id": str(uuid4()), "card": CARD}), "body.card"
    )
    assert_refused(command_api.post(f"/stock/{CARD.replace(' ', '-')}/receipts", json={}), "path")
    assert_refused(read_api.get("/products/search", params={"q": CARD}), "query.q")
    assert_refused(read_api.get(f"/carts/{CARD.replace(' ', '')}"), "path")
    assert read_api.get("/products/search", params={"q": "lamp"}).status_code == 200


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Correlation-Id", "X-Anything"])
def test_a_card_number_in_any_header_is_refused_without_signing_in(
    settings: Settings, header: str
) -> None:
    body = {"email": f"h-{uuid4().hex[:8]}@example.org", "password": "a long enough password"}
    with TestClient(apps.command_api(settings)) as anonymous:
        for written in (CARD, CARD.replace(" ", "."), f"key{CARD.replace(' ', '')}"):
            response = anonymous.post("/users", json=body, headers={header: written})
            assert_refused(response, f"header.{header.lower()}")
    assert postgres_hits(settings, ["5555"]) == []  # no row of the namespace's tables


def test_card_numbers_as_keys_names_or_repeated_values_are_refused_and_never_echoed(
    command_api: TestClient, read_api: TestClient
) -> None:
    number = CARD.replace(" ", "")
    assert_refused(command_api.post("/carts", json={number: "x"}), "body.<key>")
    assert_refused(read_api.get("/products/search", params={number: "x"}), "query.<key>")
    repeated = read_api.get("/products/search", params=[("q", "lamp"), ("q", CARD)])
    assert_refused(repeated, "query.q")
    assert_refused(command_api.post("/carts", json={"card_code": "123"}), "body.card_code")
