"""Given-when-then for the catalog's Product aggregate."""

from __future__ import annotations

import pytest

from domain.catalog import Product, product_id_for
from domain.catalog.product import NegativePrice
from domain.money import Money

EUR_10 = Money(1000, "EUR")


def a_product(price: Money = EUR_10) -> Product:
    return Product(
        sku="HP-1000",
        name="Headphones",
        description="",
        brand="Sonora",
        category="audio",
        price=price,
    )


def test_adding_a_product_records_what_was_added() -> None:
    product = a_product()

    (added,) = product.collect_events()
    assert isinstance(added, Product.Added)
    assert (added.sku, added.name, added.price) == ("HP-1000", "Headphones", EUR_10)
    assert product.version == 1


def test_the_product_id_is_derived_from_the_sku_so_a_sku_is_added_once() -> None:
    assert a_product().id == product_id_for("HP-1000")
    assert product_id_for("HP-1000") != product_id_for("HP-1001")


def test_a_product_cannot_be_added_with_a_negative_price() -> None:
    with pytest.raises(NegativePrice):
        a_product(Money(-1, "EUR"))


def test_changing_the_price_records_the_new_price() -> None:
    product = a_product()
    product.collect_events()

    product.change_price(Money(1250, "EUR"))

    (changed,) = product.collect_events()
    assert isinstance(changed, Product.PriceChanged)
    assert changed.price == Money(1250, "EUR")
    assert product.price == Money(1250, "EUR")
    assert product.version == 2


def test_setting_the_same_price_again_records_nothing() -> None:
    product = a_product()
    product.collect_events()

    product.change_price(EUR_10)

    assert product.collect_events() == []


def test_a_negative_price_change_is_refused_and_records_nothing() -> None:
    product = a_product()
    product.collect_events()

    with pytest.raises(NegativePrice):
        product.change_price(Money(-5, "EUR"))
    assert product.collect_events() == []
    assert product.price == EUR_10


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    product = a_product()
    product.change_price(Money(999, "EUR"))
    events = product.collect_events()

    replayed = None
    for domain_event in events:
        replayed = domain_event.mutate(replayed)

    assert isinstance(replayed, Product)
    assert (replayed.price, replayed.version, replayed.sku) == (Money(999, "EUR"), 2, "HP-1000")
