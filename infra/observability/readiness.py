"""Readiness of the APIs: which dependency is missing, by name (ADR 0029)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping


class Missing(Exception):
    """A dependency does not answer; the /readyz body names it (``dependency``)."""

    def __init__(self, dependency: str, error: BaseException | str) -> None:
        text = str(error).strip()
        detail = text.splitlines()[0] if text else type(error).__name__
        super().__init__(f"{dependency}: {detail[:300]}")
        self.dependency = dependency


CHECK_SECONDS = 2.0


async def first_missing(checks: Mapping[str, Callable[[], Awaitable[None]]]) -> None:
    """Run every check at once (each within ``CHECK_SECONDS``); raise ``Missing`` for the
    first that failed, in the order given."""
    names = list(checks)
    timeout = CHECK_SECONDS
    results = await asyncio.gather(
        *(asyncio.wait_for(checks[name](), timeout) for name in names), return_exceptions=True
    )
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, TimeoutError):
                raise Missing(name, f"no answer within {timeout:g} s")
            raise Missing(name, result)
