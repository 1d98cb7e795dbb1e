"""The SKU: the one identity catalog and inventory share (a shared kernel, ADR 0009).

A product (catalog) and its stock item (inventory) are different aggregates in different
event stores, but both take their id from the SKU. So the two contexts' events about one SKU
carry the same aggregate id, and a read model that merges them needs no lookup table.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

_SKU_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shop:catalog:sku")


def sku_id(sku: str) -> UUID:
    return uuid5(_SKU_NAMESPACE, sku)
