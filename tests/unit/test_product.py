"""Given-when-then for the catalog's Product aggregate."""

from __future__ import annotations

import pytest

from domain.catalog import Product, product_id_for
from domain.catalog.product import (
    BlankListing,
    NegativePrice,
    ProductDiscontinued,
    ProductStatus,
)
from domain.money import Money
from tests.support.unit_aggregates import rebuilt_from, saved
from tests.support.unit_catalog import EUR_10, a_product


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
        a_product(price=Money(-1, "EUR"))


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

    replayed = rebuilt_from(product.collect_events())

    assert isinstance(replayed, Product)
    assert (replayed.price, replayed.version, replayed.sku) == (Money(999, "EUR"), 2, "HP-1000")


def an_added_product() -> Product:
    return saved(a_product())


def a_discontinued_product() -> Product:
    product = an_added_product()
    product.discontinue("end of line")
    return saved(product)


def test_a_product_is_added_without_tags_unless_given_some() -> None:
    assert a_product().tags == []
    tagged = a_product("HP-2", name="Earbuds", tags=["wireless", "sport"])
    (added,) = tagged.collect_events()
    assert isinstance(added, Product.Added)
    assert added.tags == ["wireless", "sport"]
    assert tagged.tags == ["wireless", "sport"]


@pytest.mark.parametrize(
    ("field", "value", "recorded"),
    [
        ("name", "Studio Headphones", Product.Renamed),
        ("description", "Closed back, 32 ohm", Product.Described),
    ],
    ids=["renaming", "describing"],
)
def test_revising_one_field_records_only_its_new_value(
    field: str, value: str, recorded: type[Product.Renamed | Product.Described]
) -> None:
    product = an_added_product()

    product.revise(**{field: value})

    (revised,) = product.collect_events()
    assert isinstance(revised, recorded)
    assert getattr(revised, field) == value
    assert getattr(product, field) == value


def test_revising_name_and_description_records_one_event_for_each_change() -> None:
    product = an_added_product()

    product.revise(name="Studio Headphones", description="Closed back")
    product.revise(name="Studio Headphones", description="Open back")

    events = product.collect_events()
    assert [type(e) for e in events] == [Product.Renamed, Product.Described, Product.Described]
    assert product.version == 4


def test_revising_to_what_it_already_is_records_nothing() -> None:
    product = an_added_product()
    product.revise(name="Headphones", description="")
    product.revise()
    assert product.collect_events() == []


def test_a_blank_name_is_refused() -> None:
    product = an_added_product()
    with pytest.raises(BlankListing):
        product.revise(name="   ")
    assert product.collect_events() == []


def test_recategorising_records_the_new_category_and_keeps_the_brand() -> None:
    product = an_added_product()

    product.recategorise("hifi")

    (moved,) = product.collect_events()
    assert isinstance(moved, Product.Recategorised)
    assert (moved.category, moved.brand) == ("hifi", "Sonora")
    assert (product.category, product.brand) == ("hifi", "Sonora")


def test_recategorising_can_change_the_brand_too() -> None:
    product = an_added_product()
    product.recategorise("audio", "Sonora Pro")
    (moved,) = product.collect_events()
    assert isinstance(moved, Product.Recategorised)
    assert (moved.category, moved.brand) == ("audio", "Sonora Pro")


def test_recategorising_to_the_same_place_records_nothing() -> None:
    product = an_added_product()
    product.recategorise("audio", "Sonora")
    assert product.collect_events() == []


def test_discontinuing_takes_the_product_off_sale_once() -> None:
    product = an_added_product()

    product.discontinue("replaced by HP-2000")
    product.discontinue("again")

    (discontinued,) = product.collect_events()
    assert isinstance(discontinued, Product.Discontinued)
    assert discontinued.reason == "replaced by HP-2000"
    assert product.status is ProductStatus.DISCONTINUED


def test_discontinuing_needs_a_reason() -> None:
    product = an_added_product()
    with pytest.raises(BlankListing):
        product.discontinue(" ")


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.change_price(Money(500, "EUR")),
        lambda p: p.revise(name="Clearance Headphones"),
        lambda p: p.revise(description="Last pieces"),
        lambda p: p.recategorise("outlet"),
    ],
    ids=["price", "name", "description", "category"],
)
def test_a_discontinued_product_refuses_changes_and_records_nothing(change) -> None:
    product = a_discontinued_product()
    with pytest.raises(ProductDiscontinued) as refused:
        change(product)
    assert refused.value.code == "product_discontinued"
    assert product.collect_events() == []


def test_reinstating_puts_a_discontinued_product_back_on_sale() -> None:
    product = a_discontinued_product()

    product.reinstate()
    product.change_price(Money(900, "EUR"))

    reinstated, _ = product.collect_events()
    assert isinstance(reinstated, Product.Reinstated)
    assert product.status is ProductStatus.ACTIVE
    assert product.price == Money(900, "EUR")


def test_reinstating_an_active_product_records_nothing() -> None:
    product = an_added_product()
    product.reinstate()
    assert product.collect_events() == []


def test_replaying_the_whole_lifecycle_rebuilds_the_same_state() -> None:
    product = a_product()
    product.revise(name="Studio Headphones", description="Closed back")
    product.recategorise("hifi", "Sonora Pro")
    product.discontinue("seasonal")
    product.reinstate()

    replayed = rebuilt_from(product.collect_events())

    assert isinstance(replayed, Product)
    assert replayed.__dict__ == product.__dict__
