"""What micro-community discovery measures (Prometheus): detections, their parts and cost, groups, the outbox."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from kith_recommend import SERVICE
from kith_recommend.discovery.job import DetectionOutcome

DETECTIONS = Counter(
    "kith_microcommunity_detections_total",
    "Micro-community detections of one tenant, by outcome",
    ["service", "outcome"],
)
DETECTION_SECONDS = Histogram(
    "kith_microcommunity_detection_seconds",
    "Wall time of one tenant's detection: prepare, run in the worker, store",
    ["service"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
FAILING_TENANTS = Gauge("kith_microcommunity_failing_tenants", "Tenants whose last detection failed", ["service"])
OUTBOX_PENDING = Gauge(
    "kith_microcommunity_outbox_pending", "Micro-community announcements stored and not yet published", ["service"]
)
GROUPS_FOUND = Gauge("kith_microcommunity_groups", "Micro-communities of every tenant, as last detected", ["service"])
LAST_DETECTION = Gauge(
    "kith_microcommunity_last_detection_seconds",
    "The last detection's seconds by part: prepare (snapshot, under the model lock), worker_cpu, store, total",
    ["service", "part"],
)
WORKER_PEAK_RSS = Gauge(
    "kith_microcommunity_worker_peak_rss_bytes",
    "Peak resident memory of the detection worker process (of the service, with executor=thread)",
    ["service"],
)


def record_detection(prepare: float, outcome: DetectionOutcome, store: float, total: float) -> None:
    """Record the seconds of the last detection by part, and the worker's peak memory."""
    for part, seconds in (
        ("prepare", prepare),
        ("worker_cpu", outcome.cpu_seconds),
        ("store", store),
        ("total", total),
    ):
        LAST_DETECTION.labels(SERVICE, part).set(seconds)
    WORKER_PEAK_RSS.labels(SERVICE).set(outcome.peak_rss_mb * 2**20)
