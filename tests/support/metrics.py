"""Reading a process's /metrics in tests, with prometheus-client's own text parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(url: str) -> dict[str, list[Sample]]:
    """Every sample of ``url`` by family name (the parser's: counters without ``_total``)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: list(f.samples) for f in text_string_to_metric_families(response.text)}


def value(url: str, sample: str, **labels: str) -> float:
    """The value of one sample (0 when it has not been exported yet)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    total = 0.0
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total
