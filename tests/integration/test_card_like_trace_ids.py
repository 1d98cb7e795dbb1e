"""A W3C trace id is random hex, and about one in 250 holds a run of digits that passes the
card-number check: such a request is served on a trace of its own, and the number is stored
nowhere. A ``traceparent`` that is not well formed is no trace context: card data in it is
refused like in any other header."""

from __future__ import annotations

from fastapi.testclient import TestClient

from commands.catalog.application import CatalogApplication
from streams.relay import envelopes
from tests.support.bodies import product_json

# Found by drawing random trace contexts until one passed the card-number check.
CARD_LIKE = "00-09758340401d68fbfe977c5604a65651-04b8157d03edb920-01"
ORDINARY = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # the W3C example
A_CARD = "4111111111111111"


def _product(sku: str) -> dict[str, object]:
    return product_json(sku, "Traced kettle", "39.00", brand="Boil", category="kitchen")


def test_a_card_like_trace_id_is_served_on_a_trace_of_its_own_and_never_stored(
    client: TestClient, catalog: CatalogApplication
) -> None:
    ordinary = client.post("/products", json=_product("TRC-1"), headers={"traceparent": ORDINARY})
    card_like = client.post("/products", json=_product("TRC-2"), headers={"traceparent": CARD_LIKE})

    assert (ordinary.status_code, card_like.status_code) == (201, 201), card_like.text
    stored = [e.traceparent for e in envelopes(catalog, catalog.notification_log.select(1, 10))]
    assert stored[0] == ORDINARY  # an incoming trace context is continued and stored
    assert CARD_LIKE.split("-")[1] not in (stored[1] or "")


def test_card_data_in_a_malformed_traceparent_is_refused(client: TestClient) -> None:
    response = client.post(
        "/products", json=_product("TRC-CARD-2"), headers={"traceparent": f"00-{A_CARD}-01"}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "card_data_refused"
