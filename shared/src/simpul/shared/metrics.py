"""Prometheus metrics per app (a registry of its own, so test copies don't collide)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.shared.balance import Balancer, BalancerCollector


class Metrics:
    def __init__(self, service_name: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "simpul_http_requests",
            "HTTP requests answered",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "simpul_http_request_duration_seconds",
            "Time to answer HTTP requests",
            ["service", "method", "route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.service_name = service_name

    def watch(self, balancers: Callable[[], Iterable[Balancer]]) -> None:
        """Adds the retry and ejection series of the balancers `balancers()` returns."""
        self.registry.register(BalancerCollector(balancers))

    def response(self) -> Response:
        content_type, body = self.exposition()
        return Response(body, media_type=content_type)

    def exposition(self) -> tuple[str, bytes]:
        """Content type and body of the Prometheus text exposition."""
        return CONTENT_TYPE_LATEST, generate_latest(self.registry)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths are folded into one label so scanners can't blow up the series count.
    return path or "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = route_template(scope)
            name = self.metrics.service_name
            self.metrics.requests.labels(name, scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(name, scope["method"], route).observe(time.perf_counter() - started)
