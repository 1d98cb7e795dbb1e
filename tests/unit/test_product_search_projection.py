"""The product search document: folding envelopes, idempotently."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contract.envelope import Envelope
from domain.catalog import Product
from domain.money import Money
from projections.product_search import Document, apply
from tests.support.envelopes import envelopes_of
from tests.support.unit_catalog import a_product
from tests.support.unit_redelivery import redelivered


def a_grinder(sku: str, price_minor: int) -> Product:
    """The product every test here follows (newly added), under the SKU and price given."""
    return a_product(
        sku,
        name="Coffee Grinder",
        description="Burrs",
        brand="Morning",
        category="kitchen",
        price=Money(price_minor, "EUR"),
    )


def envelopes_for_prices(prices: list[int]) -> list[Envelope]:
    product = a_grinder("CF-1", prices[0])
    for price in prices[1:]:
        product.change_price(Money(price, "EUR"))
    return envelopes_of("catalog", product)


def fold(envelopes: list[Envelope]) -> Document | None:
    document: Document | None = None
    for envelope in envelopes:
        document = apply(document, envelope) or document
    return document


def test_an_added_product_becomes_a_searchable_document() -> None:
    (added,) = envelopes_for_prices([7900])
    document = apply(None, added)
    assert document is not None
    assert document["name"] == "Coffee Grinder"
    assert (document["price_minor"], document["currency"]) == (7900, "EUR")
    assert document["versions"] == {"catalog": 1}
    assert document["status"] == "active"


def test_a_price_change_updates_the_price_and_the_version() -> None:
    document = fold(envelopes_for_prices([7900, 6900]))
    assert document is not None
    assert document["price_minor"] == 6900
    assert document["versions"] == {"catalog": 2}


def test_an_event_already_applied_changes_nothing() -> None:
    envelopes = envelopes_for_prices([7900, 6900])
    document = fold(envelopes)
    assert apply(document, envelopes[0]) is None
    assert apply(document, envelopes[1]) is None


def test_other_sources_versions_are_kept() -> None:
    envelopes = envelopes_for_prices([7900, 6900])
    document = apply({"id": envelopes[0].aggregate_id, "versions": {"inventory": 5}}, envelopes[0])
    assert document is not None
    assert document["versions"] == {"inventory": 5, "catalog": 1}


@given(
    prices=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=8),
    data=st.data(),
)
def test_redelivered_and_replayed_events_give_the_same_document(
    prices: list[int], data: st.DataObject
) -> None:
    """At-least-once delivery: any prefix may come again, in order, any number of times."""
    envelopes = envelopes_for_prices(prices)
    delivered = redelivered(envelopes, data)

    assert fold(delivered) == fold(envelopes)
    final = fold(envelopes)
    assert final is not None
    assert final["price_minor"] == prices[-1]


def envelopes_for_a_listing_lifecycle() -> list[Envelope]:
    product = a_grinder("CF-2", 7900)
    product.revise(name="Burr Grinder", description="Conical steel burrs")
    product.recategorise("coffee", "Dawn")
    product.discontinue("supplier stopped making it")
    return envelopes_of("catalog", product)


def test_the_search_document_follows_renames_descriptions_and_categories() -> None:
    document = fold(envelopes_for_a_listing_lifecycle()[:4])
    assert document is not None
    assert (document["name"], document["description"]) == ("Burr Grinder", "Conical steel burrs")
    assert (document["category"], document["brand"]) == ("coffee", "Dawn")
    assert document["versions"] == {"catalog": 4}
    assert "tags" not in document  # the index mapping is strict; tags are not searchable yet


def test_a_discontinued_product_leaves_search_and_a_reinstated_one_returns() -> None:
    envelopes = envelopes_for_a_listing_lifecycle()
    discontinued = fold(envelopes)
    assert discontinued is not None
    assert discontinued["status"] == "discontinued"

    product = a_grinder("CF-2", 7900)
    product.discontinue("seasonal")
    product.reinstate()
    reinstated = fold(envelopes_of("catalog", product))
    assert reinstated is not None
    assert reinstated["status"] == "active"
    assert reinstated["versions"] == {"catalog": 3}
