"""Watermarks: how a consumer learns that every event up to a position has arrived.

Positions rise within a partition but not across partitions, so a consumer alone cannot
tell whether an earlier position is still on its way in another partition. After each
acknowledged batch the relay writes a watermark into every partition of the topic: "all
events up to position P are published". A projector that reaches the watermark in a
partition has applied everything up to P from that partition; the minimum over all
partitions is the position up to which its read model is complete (read-your-writes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

HEADER = "shop-watermark"

Headers = Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None


def watermark_header(position: int) -> list[tuple[str, bytes]]:
    return [(HEADER, str(position).encode())]


def watermark_of(headers: Headers) -> int | None:
    """The position a watermark message carries; None for an ordinary event."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if name == HEADER:
            return int(value)
    return None


def complete_up_to(per_partition: Mapping[int, int], partitions: int) -> int:
    """The position up to which every partition is applied (0 until all have reported)."""
    if len(per_partition) < partitions:
        return 0
    return min(per_partition.values())
