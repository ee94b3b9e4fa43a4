from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from simpul.gateway.api import router
from simpul.gateway.officials_api import router as officials_router
from simpul.gateway.front import GatewayFront
from simpul.gateway.models import audit, idempotency
from simpul.gateway.openapi import OpenApiAggregator
from simpul.gateway.routing import service_route
from simpul.gateway.runtime import Gateway
from simpul.gateway.scrape import ScrapeListener
from simpul.gateway.settings import GatewaySettings
from simpul.shared.audit import AuditLog, AuditStamping, audit_router
from simpul.shared.balance import Resolver, resolve_addresses
from simpul.shared.db import create_engine
from simpul.shared.idempotency import IdempotencyMiddleware, expired_keys_purge
from simpul.shared.identity import declare_roles
from simpul.shared.openapi import document_conventions, operation_id
from simpul.shared.logs import AccessLogMiddleware, ForwardedCallerMiddleware, TrustedProxies
from simpul.shared.metrics import Metrics, MetricsMiddleware
from simpul.shared.nostore import NoStoreMiddleware
from simpul.shared.problems import ErrorBoundaryMiddleware, install_problem_handlers
from simpul.shared.requestid import RequestIdMiddleware


class GatewayApp(FastAPI):
    """FastAPI for the gateway's own routes, with the front (token check, rate limit, proxy) in
    front of it: requests forwarded to a service never pass FastAPI's routing and middleware."""

    entry: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.entry(scope, receive, send)


def create_app(settings: GatewaySettings | None = None, *, freeze_heap: bool = False,
               resolver: Resolver = resolve_addresses) -> FastAPI:
    """`freeze_heap` (for the served process, not for tests that start many apps): once started,
    everything allocated so far is moved out of the garbage collector's sight, so its collections
    stop rescanning the long-lived heap on the proxy's hot path (about a fifth of its CPU).
    `resolver` replaces DNS for the services' names (tests)."""
    settings = settings or GatewaySettings()
    engine = create_engine(settings.resolved_database_url())
    gateway = Gateway(settings, engine, resolver=resolver)
    purge = expired_keys_purge(engine, idempotency)
    audit_log = AuditLog(engine, audit)
    stamping = AuditStamping(settings, audit_log)
    metrics = Metrics(settings.service_name)
    scrape = ScrapeListener(settings.metrics_host, settings.metrics_port, metrics.exposition)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        await scrape.start()
        purge.start()
        stamping.start()
        if freeze_heap:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await stamping.stop()
            await purge.stop()
            await scrape.stop()
            await gateway.stop()
            await engine.dispose()

    app = GatewayApp(
        title="Simpul gateway",
        description="OAuth 2.0 client credentials, API clients and the keys that verify tokens.",
        version="1.0.0",
        lifespan=lifespan,
        # /openapi.json and /docs are the merged document of every service, served by api.py.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.gateway = gateway
    app.state.migration = gateway.migration
    app.state.audit = audit_log
    app.state.default_language = settings.default_language
    app.state.metrics = metrics
    app.state.scrape = scrape
    app.state.metrics.watch(lambda: [upstream.balancer for upstream in gateway.upstreams.values()])
    declare_roles(app)
    document_conventions(app, idempotent_posts=True)
    app.state.openapi = OpenApiAggregator(
        app.openapi,
        {name: upstream.balancer for name, upstream in gateway.upstreams.items()},
        internal_secret=settings.resolved_internal_secret(),
        server_url=settings.public_url.rstrip("/"),
        session=lambda: gateway.proxy.session,
    )

    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(officials_router)
    app.include_router(audit_router(settings.service_name))
    # FastAPI's own stack, innermost first: routes <- crash boundary <- idempotency <- metrics.
    app.add_middleware(IdempotencyMiddleware, engine=engine, table=idempotency,
                       default_language=settings.default_language)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    # In front of it all: request id -> caller behind a trusted proxy -> access log -> no-store ->
    # crash boundary -> front (which forwards, or calls FastAPI).
    front = GatewayFront(
        partial(FastAPI.__call__, app),
        upstreams=gateway.upstreams,
        proxy=gateway.proxy,
        tokens=gateway.tokens,
        registry=gateway.registry,
        limiter=gateway.limiter,
        verify_limiter=gateway.verify_limiter,
        verify_upload_cost=settings.verify_upload_cost,
        metrics=app.state.metrics,
        default_language=settings.default_language,
    )
    entry: ASGIApp = NoStoreMiddleware(ErrorBoundaryMiddleware(front, default_language=settings.default_language))
    if settings.access_log:
        entry = AccessLogMiddleware(entry, service=settings.service_name, fallback_route=service_route)
    if settings.trusted_proxies:
        entry = ForwardedCallerMiddleware(entry, TrustedProxies(settings.trusted_proxy_networks()))
    app.entry = RequestIdMiddleware(entry)
    return app
