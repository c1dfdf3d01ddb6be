"""Prometheus metrics, served at ``GET /metrics``.

Requests by route and status with latency histograms (``web.observe``), and what the
programme does: behaviours credited by type and source, redemptions, ledger postings by
entry kind. Domain counters move only once their transaction has committed, so a rolled
back request counts nothing.

With several API processes (``WEB_WORKERS``), ``carbon-inclusion serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at an emptied folder before the workers start, and every scrape
sums all processes' counts (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from carbon_inclusion.db import after_commit, in_transaction

REQUESTS = Counter("carbon_http_requests", "HTTP requests answered",
                   ["method", "route", "status"])
LATENCY = Histogram("carbon_http_request_duration_seconds", "Time to answer an HTTP request",
                    ["method", "route"],
                    buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
CREDITED = Counter("carbon_behaviours_credited", "Behaviours credited", ["type", "source"])
REDEMPTIONS = Counter("carbon_redemptions", "Rewards redeemed (redemptions, not items)")
POSTINGS = Counter("carbon_ledger_postings", "Ledger postings written", ["kind"])


def render() -> tuple[bytes, str]:
    """The exposition text of every process's metrics, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _on_commit(tally: Tally[tuple[str, ...]], counter: Counter) -> None:
    def count() -> None:
        for labels, n in tally.items():
            counter.labels(*labels).inc(n)

    if not tally:
        return
    if in_transaction():
        async def later() -> None:
            count()
        after_commit(later)
    else:  # a script's own transaction (bench, seed): count at once
        count()


def behaviours_credited(rows: Iterable[dict[str, object]]) -> None:
    _on_commit(Tally((str(r["type"]), str(r["source"])) for r in rows), CREDITED)


def postings_written(kinds: Iterable[str], postings_per_entry: Iterable[int]) -> None:
    tally: Tally[tuple[str, ...]] = Tally()
    for kind, n in zip(kinds, postings_per_entry, strict=True):
        tally[(kind,)] += n
    _on_commit(tally, POSTINGS)
