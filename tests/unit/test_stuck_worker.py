"""The worker's high-water check: behind *and* no progress for a while is stuck; a lag that
moves, a fresh event or a quiet projection is not."""

from __future__ import annotations

from infra.observability.health import StuckWatch

KEY = ("carts", "carts")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def watched(applied: int, published: int) -> tuple[StuckWatch, dict[str, int], Clock]:
    """A StuckWatch over positions the test moves by hand (``state``), on a clock it moves."""
    clock, state = Clock(), {"applied": applied, "published": published}

    def positions() -> tuple[dict[tuple[str, str], dict[int, int]], dict[str, int]]:
        return {KEY: {0: state["applied"], 1: state["applied"]}}, {"carts": state["published"]}

    return StuckWatch(positions, [KEY], partitions=2, stuck_seconds=10, clock=clock), state, clock


def evaluate_every(seconds: float, check: StuckWatch, clock: Clock, times: int = 1) -> None:
    """Evaluate ``times`` times, ``seconds`` apart (the clock moves on after each)."""
    for _ in range(times):
        check.evaluate()
        clock.now += seconds


def test_a_quiet_projection_that_is_not_behind_is_never_stuck() -> None:
    check, _, clock = watched(applied=5, published=5)
    evaluate_every(100, check, clock, times=5)
    check.evaluate()
    assert check.stuck == {}
    assert check.probes().ready()[0]


def test_a_new_event_after_a_long_quiet_is_not_stuck_at_once() -> None:
    check, state, clock = watched(applied=5, published=5)
    evaluate_every(1, check, clock, times=1000)  # checked every second, as the worker does
    state["published"] = 6
    check.evaluate()
    assert check.stuck == {}
    clock.now += 11
    check.evaluate()
    assert KEY in check.stuck


def test_behind_without_progress_for_the_threshold_is_stuck_then_recovers() -> None:
    check, state, clock = watched(applied=5, published=9)
    evaluate_every(9, check, clock)
    check.evaluate()
    assert check.stuck == {}
    clock.now += 2
    check.evaluate()
    assert KEY in check.stuck
    live, body = check.probes().live()
    assert not live
    assert "carts" in body["reason"]
    state["applied"] = 9
    check.evaluate()
    assert check.stuck == {}
    assert check.probes().live()[0]


def test_a_projection_that_moves_while_behind_is_not_stuck() -> None:
    check, state, clock = watched(applied=1, published=1000)
    for _ in range(20):
        evaluate_every(5, check, clock)
        state["applied"] += 1
    assert check.stuck == {}


def test_a_database_that_does_not_answer_makes_it_unready_naming_postgres() -> None:
    def failing() -> tuple[dict[tuple[str, str], dict[int, int]], dict[str, int]]:
        raise OSError("connection refused")

    check = StuckWatch(failing, [KEY], partitions=2, stuck_seconds=10)
    check.evaluate()
    ready, body = check.probes().ready()
    assert not ready
    assert body["dependency"] == "postgres"
