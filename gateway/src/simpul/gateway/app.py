from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from simpul.gateway.api import router
from simpul.gateway.front import GatewayFront
from simpul.gateway.models import idempotency
from simpul.gateway.openapi import OpenApiAggregator
from simpul.gateway.runtime import Gateway
from simpul.gateway.settings import GatewaySettings
from simpul.shared.db import create_engine
from simpul.shared.idempotency import IdempotencyMiddleware
from simpul.shared.metrics import Metrics, MetricsMiddleware
from simpul.shared.problems import ErrorBoundaryMiddleware, install_problem_handlers
from simpul.shared.requestid import RequestIdMiddleware


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    engine = create_engine(settings.resolved_database_url())
    gateway = Gateway(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()
            await engine.dispose()

    app = FastAPI(
        title="Simpul gateway",
        description="OAuth 2.0 client credentials, API clients and the keys that verify tokens.",
        version="1.0.0",
        lifespan=lifespan,
        # /openapi.json and /docs are the merged document of every service, served by api.py.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.gateway = gateway
    app.state.default_language = settings.default_language
    app.state.metrics = Metrics(settings.service_name)
    app.state.openapi = OpenApiAggregator(
        app.openapi,
        settings.upstream_urls(),
        internal_secret=settings.resolved_internal_secret(),
        server_url=settings.public_url.rstrip("/"),
        session=lambda: gateway.proxy.session,
    )

    install_problem_handlers(app)
    app.include_router(router)
    # Added innermost first: request id -> metrics -> crash boundary -> front (token check, rate
    # limit, proxy) -> idempotency -> the gateway's own routes.
    app.add_middleware(IdempotencyMiddleware, engine=engine, table=idempotency,
                       default_language=settings.default_language)
    app.add_middleware(
        GatewayFront,
        upstreams=gateway.upstreams,
        proxy=gateway.proxy,
        tokens=gateway.tokens,
        registry=gateway.registry,
        limiter=gateway.limiter,
        default_language=settings.default_language,
    )
    app.add_middleware(ErrorBoundaryMiddleware, default_language=settings.default_language)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
