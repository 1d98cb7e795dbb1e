"""The demo catalog `shop run` loads, through the command API like any client."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx

# Units received for each demo product when it is added, so a shopper can check out at once.
DEMO_STOCK = 100


def load_demo_catalog(command_api_url: str, token: str) -> int:
    """Add the demo products (``token``: an admin's access token) with ``DEMO_STOCK`` units
    each; ones already there (409) are kept as they are. Returns how many were added."""
    products: list[dict[str, Any]] = json.loads(
        resources.files("infra").joinpath("demo/products.json").read_text()
    )
    added = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=command_api_url, timeout=10, headers=headers) as client:
        for product in products:
            response = client.post("/products", json=product)
            if response.status_code == 201:
                added += 1
                receipt = client.post(
                    f"/stock/{product['sku']}/receipts",
                    json={"quantity": DEMO_STOCK},
                    headers={"Idempotency-Key": f"demo-stock-{product['sku']}"},
                )
                receipt.raise_for_status()
            elif response.status_code != 409:
                response.raise_for_status()
    return added
