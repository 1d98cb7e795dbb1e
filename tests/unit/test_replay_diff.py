"""Replay's pure parts: reading points in a history, and the difference of two states."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.audit.chain import ZERO, link, record_digest
from infra.audit.replay import HistoryEntry, ReplayError, diff, version_at


def entries() -> list[HistoryEntry]:
    return [
        HistoryEntry(v, v * 10, datetime(2026, 3, v, tzinfo=UTC), "t", None, None, {}, ())
        for v in (1, 2, 3)
    ]


def test_a_time_picks_the_last_version_recorded_at_or_before_it() -> None:
    assert version_at(entries(), "2026-03-02T00:00:00+00:00") == 2
    assert version_at(entries(), "2026-03-02T23:59:59Z") == 2
    assert version_at(entries(), "2027-01-01T00:00:00Z") == 3
    assert version_at(entries(), "1") == 1


@pytest.mark.parametrize(
    "point", ["0", "4", "2026-02-28T00:00:00Z", "2026-03-02", "2026-03-02T00:00:00", "soon"]
)
def test_a_point_outside_the_history_or_malformed_is_refused(point: str) -> None:
    with pytest.raises(ReplayError):
        version_at(entries(), point)


def test_diff_lists_each_changed_leaf_by_its_dotted_path() -> None:
    before = {"status": "placed", "total": {"minor": 5, "currency": "EUR"}, "gone": 1}
    after = {"status": "paid", "total": {"minor": 7, "currency": "EUR"}, "new": [1]}
    assert diff(before, after) == [
        {"path": "gone", "change": "removed", "before": 1},
        {"path": "new", "change": "added", "after": [1]},
        {"path": "status", "change": "changed", "before": "placed", "after": "paid"},
        {"path": "total.minor", "change": "changed", "before": 5, "after": 7},
    ]
    assert diff(after, after) == []


def test_a_link_depends_on_its_predecessor_its_number_and_every_stored_byte() -> None:
    digest = record_digest("a", 1, "t", b"state")
    assert link(ZERO, 1, digest) != link(ZERO, 2, digest)
    assert link(ZERO, 1, digest) != link(b"\x01" * 32, 1, digest)
    assert digest != record_digest("a", 1, "t", b"statf")
    # separators keep fields apart: "a1" + "1" is not "a" + "11"
    assert record_digest("a1", 1, "t", b"") != record_digest("a", 11, "t", b"")
