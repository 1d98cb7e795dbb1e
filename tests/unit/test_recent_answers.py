"""Recent read-model answers are served again only while their projection has applied
nothing new, for a bounded time, and never while positions are not pushed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from read_api.answers import RecentAnswers
from read_api.positions import AppliedPositions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("read_api.answers.time.monotonic", clock)
    return clock


def test_an_answer_is_served_again_while_the_generation_holds(clock: Clock) -> None:
    generation = [7]
    answers = RecentAnswers(lambda: generation[0], seconds=1.0)
    answers.put("q", {"total": 1}, answers.generation())
    clock.now += 0.5
    assert answers.get("q") == {"total": 1}
    generation[0] = 8  # the projection applied something
    assert answers.get("q") is None
    assert answers.get("q") is None  # and it stays dropped


def test_an_answer_expires_after_its_seconds(clock: Clock) -> None:
    answers = RecentAnswers(lambda: 1, seconds=1.0)
    answers.put("q", "old", 1)
    clock.now += 1.01
    assert answers.get("q") is None


def test_an_answer_asked_before_the_projection_moved_is_never_served(clock: Clock) -> None:
    generation = [1]
    answers = RecentAnswers(lambda: generation[0], seconds=1.0)
    asked_under = answers.generation()
    generation[0] = 2  # applied while the search server answered
    answers.put("q", "maybe old", asked_under)
    assert answers.get("q") is None


def test_nothing_is_kept_without_pushed_positions_or_with_zero_seconds(clock: Clock) -> None:
    unknown = RecentAnswers(lambda: None, seconds=1.0)
    unknown.put("q", "a", unknown.generation())
    assert unknown.get("q") is None
    off = RecentAnswers(lambda: 1, seconds=0)
    assert off.generation() is None
    off.put("q", "a", off.generation())
    assert off.get("q") is None


def test_the_least_recently_used_answer_goes_first(clock: Clock) -> None:
    answers = RecentAnswers(lambda: 1, seconds=1.0, size=2)
    answers.put("a", 1, 1)
    answers.put("b", 2, 1)
    assert answers.get("a") == 1  # used: "b" is now the oldest
    answers.put("c", 3, 1)
    assert (answers.get("a"), answers.get("b"), answers.get("c")) == (1, None, 3)


class Checkpoints:
    """What ``AppliedPositions._refresh`` reads: every projection's positions."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, str], dict[int, int]] = {}

    async def every_position(self, conn: Any) -> dict[tuple[str, str], dict[int, int]]:
        return {key: dict(value) for key, value in self.positions.items()}


def test_a_projection_s_generation_moves_only_when_its_own_positions_do() -> None:
    checkpoints = Checkpoints()
    positions = AppliedPositions(checkpoints, "postgresql://unused", partitions=2)  # type: ignore[arg-type]
    assert positions.generation("product-search") is None  # not listening: nothing cached

    async def refresh() -> None:
        await positions._refresh(None)  # type: ignore[arg-type]

    checkpoints.positions = {("product-search", "catalog"): {0: 5}, ("carts", "carts"): {0: 1}}
    asyncio.run(refresh())
    first = positions.generation("product-search")
    assert first is not None
    checkpoints.positions[("carts", "carts")] = {0: 2}
    asyncio.run(refresh())
    assert positions.generation("product-search") == first  # another read model moved
    checkpoints.positions[("product-search", "inventory")] = {1: 3}  # its second source
    asyncio.run(refresh())
    assert positions.generation("product-search") != first
