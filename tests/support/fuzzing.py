"""Hypothesis as the integration fuzz targets run it: the same examples on every run."""

from __future__ import annotations

import hypothesis


def repeatable(max_examples: int) -> hypothesis.settings:
    """``max_examples`` derandomized examples, no deadline (the real servers are slow at
    times), no health check (the fixtures are real and slow) and no example database, so
    that every run and machine tries exactly the same requests."""
    return hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
        database=None,
    )
