"""Read-your-writes: wait (bounded) until a read model has applied a given position.

A command answers with the event-store position of its write; a query may pass it as
``after``. The API waits until the projection has applied everything up to it, or answers
after the bound with ``stale: true`` — never silently stale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

AppliedPosition = Callable[[], Awaitable[int]]


@dataclass(frozen=True)
class Consistency:
    after: int | None
    applied: int
    stale: bool

    def headers(self) -> dict[str, str]:
        return {"Shop-Applied-Position": str(self.applied), "Shop-Stale": str(self.stale).lower()}

    def body(self) -> dict[str, Any]:
        return asdict(self)

    def missing(self, what: str, where: str = "the read model") -> str:
        """The detail of a 404: a read model behind the client's write says so, and one
        asked without ``after`` suggests it (the write may just not be projected yet)."""
        if self.stale:
            return (
                f"{what} is not in {where} yet: it has applied position {self.applied}, "
                f"not yet {self.after}; retry with after={self.after}"
            )
        if self.after is None:
            return (
                f"{what} is not in {where}; if you just wrote it, pass "
                "after=<the position in the command's answer> to wait for it"
            )
        return f"{what} is not in {where}"


async def wait_until_applied(
    applied_position: AppliedPosition,
    after: int | None,
    wait_seconds: float,
    interval: float = 0.05,
) -> Consistency:
    """``applied_position`` may offer ``changed(timeout)``, a wait for the next change
    (``read_api.positions``): then the answer leaves the moment the write is applied;
    otherwise it polls every ``interval`` seconds."""
    applied = await applied_position()
    if after is None:
        return Consistency(None, applied, stale=False)
    changed = getattr(applied_position, "changed", None)
    deadline = time.monotonic() + wait_seconds
    while applied < after and (left := deadline - time.monotonic()) > 0:
        if changed is not None:
            await changed(left)
        else:
            await asyncio.sleep(min(interval, left))
        applied = await applied_position()
    return Consistency(after, applied, stale=applied < after)
