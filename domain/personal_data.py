"""What a personal field reads as once its owner has been erased (crypto shredding).

Events keep their shape after an erasure: the encrypted value stays, its key is gone, and
every replay shows this marker in its place instead of failing.
"""

from __future__ import annotations

from typing import Final

ERASED: Final = "[erased]"


def is_erased(value: object) -> bool:
    return value == ERASED
