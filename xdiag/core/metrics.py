"""Prometheus metrics of this process (one registry, shared by every app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter("xdiag_http_requests_total", "HTTP requests",
                        ["method", "endpoint", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram("xdiag_http_request_seconds", "HTTP request latency", ["endpoint"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                  2.5, 5, 10, 30), registry=REGISTRY)
CAPTURES = Counter("xdiag_captures_total", "Captures by outcome", ["outcome"], registry=REGISTRY)
CAPTURE_HOSTS = Counter("xdiag_capture_hosts_total", "Host captures by outcome", ["outcome"],
                        registry=REGISTRY)
INGESTS = Counter("xdiag_ingests_total", "Ingests by outcome", ["outcome"], registry=REGISTRY)
INGEST_SECONDS = Histogram("xdiag_ingest_seconds", "Ingest wall time per profile",
                           buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
                           registry=REGISTRY)
INGEST_EVENTS = Counter("xdiag_ingest_events_total", "Events ingested", registry=REGISTRY)
