"""Adding products through the catalog's application service, as the command API does."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

from domain.catalog.listing import Listing
from domain.money import Money
from infra import bootstrap
from infra.settings import Settings


def a_product(
    sku: str, name: str | None = None, amount: str = "10", category: str = "misc"
) -> Listing:
    """A valid product; a test names only what it cares about."""
    return Listing(sku, name or f"Product {sku}", "Brand", category, Money.of(amount, "EUR"))


def add_products(settings: Settings, products: Iterable[Listing]) -> list[UUID]:
    catalog = bootstrap.catalog(settings)
    try:
        return [catalog.add_product(product).id for product in products]
    finally:
        catalog.close()


@contextmanager
def changing_prices(
    settings: Settings, ids: list[UUID], changes: int, first_minor: int, seed: int
) -> Iterator[None]:
    """While the block runs, a thread changes the price of a product of ``ids`` (picked by a
    seeded random) ``changes`` times, to ``first_minor + 1``, ``+ 2``, … EUR cents; the
    block's end waits for the last change."""
    catalog = bootstrap.catalog(settings)
    rng = random.Random(seed)

    def write_prices() -> None:
        for step in range(changes):
            catalog.change_price(rng.choice(ids), Money(first_minor + step + 1, "EUR"))

    writer = threading.Thread(target=write_prices)
    writer.start()
    try:
        yield
    finally:
        writer.join()
        catalog.close()
