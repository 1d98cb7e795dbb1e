"""JSON bodies of the command API's requests, for tests that talk to it over HTTP."""

from __future__ import annotations

from typing import Any


def product_json(
    sku: str,
    name: str,
    amount: str,
    brand: str = "B",
    category: str = "misc",
    description: str | None = None,
) -> dict[str, Any]:
    """The body of ``POST /products``: a product priced ``amount`` EUR (with a description
    only if one is given)."""
    return {
        "sku": sku,
        "name": name,
        **({"description": description} if description is not None else {}),
        "brand": brand,
        "category": category,
        "price": {"amount": amount, "currency": "EUR"},
    }
