"""At-least-once delivery, for the projection properties: what a consumer may be handed."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from contract.envelope import Envelope


def redelivered(envelopes: Sequence[Envelope], data: st.DataObject) -> list[Envelope]:
    """The envelopes in order, where after any one of them the run from an earlier one up to
    it may come again (Hypothesis draws whether and from where, so it shrinks them too)."""
    delivered: list[Envelope] = []
    for i, envelope in enumerate(envelopes):
        delivered.append(envelope)
        if data.draw(st.booleans()):
            replay_from = data.draw(st.integers(min_value=0, max_value=i))
            delivered.extend(envelopes[replay_from : i + 1])
    return delivered
