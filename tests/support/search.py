"""The product index on the real search server, as tests set it up without the projector."""

from __future__ import annotations

import asyncio

from infra.read_models import async_elasticsearch
from infra.settings import Settings
from projections.sinks.product_index import ProductIndex


def ensure_product_index(settings: Settings) -> None:
    """Creates the namespace's product index and its alias, as the projector does first."""

    async def ensure() -> None:
        async with async_elasticsearch(settings) as es:
            await ProductIndex(es, settings.products_alias).ensure()

    asyncio.run(ensure())
