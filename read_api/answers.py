"""Recent answers of a read model, reused while its projection has applied nothing new.

A popular search or product page is asked for far more often than the catalog changes;
each repeat sent to the search server costs the server and this API's client more than the
rest of the request. An answer is kept with the projection's generation at the time it
was asked (``AppliedPositions.generation``) and served again only while that generation
holds — the projection has applied nothing since — and for at most ``seconds``: a search
sees a write only after the index's next refresh, which no checkpoint announces, so a
cached search is never older than one refresh interval plus ``seconds``. Nothing is cached
while the positions are not pushed, nor for a reader waiting for its own write (``after``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Generation = Callable[[], int | None]


class RecentAnswers:
    def __init__(self, generation: Generation, seconds: float, size: int = 1024) -> None:
        self._generation = generation
        self._seconds = seconds
        self._size = size
        self._answers: OrderedDict[str, tuple[int, float, Any]] = OrderedDict()

    def generation(self) -> int | None:
        """Taken before asking the read model: what an answer is then stored under."""
        return self._generation() if self._seconds > 0 else None

    def get(self, key: str) -> Any | None:
        generation = self.generation()
        found = self._answers.get(key)
        if generation is None or found is None:
            return None
        stored_under, stored_at, answer = found
        if stored_under != generation or time.monotonic() - stored_at > self._seconds:
            del self._answers[key]
            return None
        self._answers.move_to_end(key)
        return answer

    def put(self, key: str, answer: Any, generation: int | None) -> None:
        """Keep ``answer``, asked under ``generation`` (if the projection moved meanwhile,
        it is already out of date and the next ``get`` drops it)."""
        if generation is None:
            return
        self._answers[key] = (generation, time.monotonic(), answer)
        self._answers.move_to_end(key)
        if len(self._answers) > self._size:
            self._answers.popitem(last=False)
