"""Prometheus metrics of one login endpoint, in a registry of its own (one per app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ARGON2_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.logins = Counter(
            "authplane_logins", "Password-grant attempts by outcome", ["outcome"], registry=r
        )
        self.refreshes = Counter(
            "authplane_refresh_grants", "Refresh-token grants by outcome", ["outcome"], registry=r
        )
        self.request_seconds = Histogram(
            "authplane_http_request_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._request_children: dict[tuple[str, str, int], Histogram] = {}
        self.argon2_seconds = Histogram(
            "authplane_argon2_seconds", "argon2id verify time", buckets=ARGON2_BUCKETS, registry=r
        )
        self.events_produced = Counter(
            "authplane_events_produced", "Events acknowledged by the broker", ["type"], registry=r
        )
        self.produce_failures = Counter(
            "authplane_produce_failures", "Events the broker did not take", ["type"], registry=r
        )
        self.introspections = Counter(
            "authplane_introspections", "Introspection answers by result", ["result"], registry=r
        )
        self.revocation_requests = Counter(
            "authplane_revocation_requests",
            "POST /oauth2/revoke and /v1/logout by outcome",
            ["endpoint", "outcome"],
            registry=r,
        )

        # Issue 11: the emergency login channel (services.login.outbox).
        self.outbox_depth = Gauge(
            "authplane_outbox_depth", "Outbox rows not yet forwarded to the log", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "authplane_outbox_oldest_age_seconds", "Age of the oldest outbox row", registry=r
        )
        self.outbox_forwarded = Counter(
            "authplane_outbox_forwarded", "Outbox events the log acknowledged", registry=r
        )
        self.outbox_writes = Counter(
            "authplane_outbox_writes", "Events written to the outbox", ["event_type"], registry=r
        )
        self.emergency_channel_open = Gauge(
            "authplane_emergency_channel_open", "1 while the emergency channel is open", registry=r
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request in ``authplane_http_request_seconds`` (``seconds``: s). The
        labelled child is kept per (route, method, status): ``labels()`` takes a lock and
        builds its key on every call, once per request otherwise."""
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self.request_seconds.labels(route, method, str(status))
            self._request_children[key] = child
        child.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
