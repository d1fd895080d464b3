"""Prometheus metrics of the projector, served by the worker (AUTHPLANE_PROJECTOR_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPLIED = Counter(
    "authplane_projector_events_applied_total", "Events projected into the stores", ["type"]
)
DEADLETTERED = Counter(
    "authplane_projector_deadlettered_total",
    "Events sent to the dead-letter topic instead of being projected",
    ["reason"],
)
BATCHES = Counter("authplane_projector_batches_total", "Batches applied")
BATCH_SECONDS = Histogram(
    "authplane_projector_batch_apply_seconds",
    "Time to decode, reduce and apply one batch (including retries)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STORE_ERRORS = Counter(
    "authplane_projector_store_errors_total",
    "Failed attempts to write a store (each is retried)",
    ["store"],
)
LAG_SECONDS = Gauge(
    "authplane_projector_lag_seconds",
    "Now minus occurred_at of the last applied event (end offsets are unreliable on Tansu)",
)
LAST_APPLIED_AT = Gauge(
    "authplane_projector_last_event_occurred_timestamp_seconds",
    "occurred_at of the last applied event, epoch seconds",
)
LAG_OFFSETS = Gauge(
    "authplane_projector_lag_offsets",
    "Records in the partition after the last applied one (high watermark minus next offset); "
    "exported only where end offsets are exact (broker kind kafka)",
    ["topic", "partition"],
)
