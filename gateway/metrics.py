"""Prometheus metrics of one gateway app (own registry, so several apps in one process never clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets from 1 ms to 30 s: completions take ~0.1-3 s, health checks ~1 ms.
_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_FILTER_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("codesieve_requests", "HTTP requests", ["route", "status"], registry=r)
        self.request_latency = Histogram(
            "codesieve_request_latency_seconds", "end-to-end request latency", ["route"], buckets=_BUCKETS_S, registry=r
        )
        self.upstream_latency = Histogram(
            "codesieve_upstream_latency_seconds", "latency of vLLM completion calls", buckets=_BUCKETS_S, registry=r
        )
        self.upstream_errors = Counter("codesieve_upstream_errors", "upstream failures", ["code"], registry=r)
        self.filter_actions = Counter(
            "codesieve_filter_actions", "filter actions by reason code", ["action", "reason"], registry=r
        )
        self.filter_latency = Histogram(
            "codesieve_filter_latency_seconds",
            "filter chain latency per completion",
            buckets=_FILTER_BUCKETS_S,
            registry=r,
        )
        self.rate_limited = Counter("codesieve_rate_limited", "requests refused by the rate limit", registry=r)
        self.telemetry_pending = Gauge(
            "codesieve_telemetry_pending_segments", "journal segments not yet in the database", registry=r
        )
        self.telemetry_dead_letters = Counter(
            "codesieve_telemetry_dead_letters",
            "telemetry rows the database refused for their content, moved to the dead-letter file",
            ["table", "error"],
            registry=r,
        )
