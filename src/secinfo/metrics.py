"""Prometheus metrics. Each process counts what it does; Prometheus adds them up.

Several API processes behind one port (``uvicorn --workers``, gunicorn) share one
``/metrics``: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before they start and
``/metrics`` reports the sum (prometheus-client's multiprocess mode). Workers run apart:
``secinfo worker --metrics-port N`` serves each worker's own counters.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MESSAGES = Counter(
    "secinfo_delivery_messages",
    "Outbox delivery attempts by channel and outcome (sent, failed, dead, expired).",
    ["channel", "outcome"],
)
SEND_SECONDS = Histogram(
    "secinfo_delivery_send_seconds",
    "Time one send to the provider took, by channel.",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


RATE_LIMITED = Counter(
    "secinfo_rate_limited",
    "Calls refused by a named rate limit.",
    ["limit"],
)
PREFIX_BLOCKS = Counter(
    "secinfo_sms_prefix_blocks",
    "SMS destination prefixes blocked by the pumping guard.",
    ["country"],
)
CODES_SENT = Counter(
    "secinfo_codes_sent",
    "Codes sent, by channel and destination country (conversion = approved / sent).",
    ["channel", "country"],
)
CODES_APPROVED = Counter(
    "secinfo_codes_approved",
    "Verifications approved, by channel and destination country.",
    ["channel", "country"],
)


def exposition() -> tuple[bytes, str]:
    """The metrics page and its content type, in multiprocess mode when configured."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
