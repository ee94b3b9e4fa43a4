"""The wiring every Simpul service shares: middleware, errors, health, metrics, migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from sqlalchemy import Table
from starlette.responses import JSONResponse, Response

from simpul.shared.audit import AuditLog, AuditStamping, AuditTables, audit_router
from simpul.shared.bodylimit import BodyLimitMiddleware
from simpul.shared.db import Migration, create_engine, read_session_factory, session_factory
from simpul.shared.identity import AssertionVerifier, IdentityMiddleware, declare_roles
from simpul.shared.idempotency import AnswerWriter, IdempotencyMiddleware, expired_keys_purge
from simpul.shared.logs import AccessLogMiddleware
from simpul.shared.metrics import Metrics, MetricsMiddleware
from simpul.shared.nostore import NoStoreMiddleware
from simpul.shared.openapi import document_conventions, operation_id
from simpul.shared.problems import Text, install_problem_handlers, problem_response, request_language
from simpul.shared.readiness import Readiness, broker_check, database_check
from simpul.shared.requestid import RequestIdMiddleware
from simpul.shared.settings import BaseServiceSettings

Hook = Callable[[FastAPI], Awaitable[None]]

NOT_READY = Text("Layanan belum siap.", "The service is not ready.")


def create_service_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    description: str,
    migrations: Path,
    idempotency: Table | None = None,
    audit: AuditTables | None = None,
    on_startup: list[Hook] | None = None,
    on_shutdown: list[Hook] | None = None,
    streaming_paths: tuple[str, ...] = (),
) -> FastAPI:
    """A FastAPI app with its own engine, migrated at start-up; routes are added by the caller.
    With `audit` (the service's audit tables), the admin audit routes and the head's stamper.
    `streaming_paths`: the routes that stream file bodies with bounds of their own; every other
    body is held to `settings.max_json_bytes` (simpul.shared.bodylimit)."""
    engine = create_engine(settings.resolved_database_url())
    migration = Migration(engine, migrations, apply=settings.migrate_on_start)
    audit_log = AuditLog(engine, audit) if audit is not None else None
    stamping = AuditStamping(settings, audit_log) if audit_log is not None else None
    answers = AnswerWriter(engine, idempotency) if idempotency is not None else None
    purge = expired_keys_purge(engine, idempotency) if idempotency is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migration.run()
        for hook in on_startup or []:
            await hook(app)
        if purge is not None:
            purge.start()
        if stamping is not None:
            stamping.start()
        try:
            yield
        finally:
            if stamping is not None:
                await stamping.stop()
            if purge is not None:
                await purge.stop()
            for hook in on_shutdown or []:
                await hook(app)
            if answers is not None:
                await answers.close()
            await engine.dispose()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  generate_unique_id_function=operation_id,
                  # One schema per model: a generated client has one class, not `X-Input` and `X-Output`.
                  separate_input_output_schemas=False)
    declare_roles(app)
    document_conventions(app, idempotent_posts=idempotency is not None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.migration = migration
    app.state.sessions = session_factory(engine)
    app.state.read_sessions = read_session_factory(engine)
    app.state.default_language = settings.default_language
    metrics = Metrics(settings.service_name)
    app.state.metrics = metrics
    app.state.idempotency_answers = answers
    app.state.audit = audit_log
    if audit_log is not None:
        app.include_router(audit_router(settings.service_name))

    install_problem_handlers(app)
    degrading = {"broker": broker_check(settings.event_broker)} if settings.event_broker else {}
    add_operational_routes(app, Readiness({"database": database_check(engine)}, degrading=degrading))

    verifier = AssertionVerifier(
        settings.service_name,
        internal_secret=settings.resolved_internal_secret(),
        jwks_json=settings.identity_jwks,
        jwks_urls=settings.resolved_jwks_urls(),
    )
    # Added innermost first: request id -> access log -> no-store -> body limit -> metrics -> identity ->
    # idempotency -> routes.
    if idempotency is not None:
        app.add_middleware(IdempotencyMiddleware, engine=engine, table=idempotency,
                           default_language=settings.default_language, answers=answers)
    app.add_middleware(IdentityMiddleware, verifier=verifier, default_language=settings.default_language)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_json_bytes, streaming_paths=streaming_paths,
                       default_language=settings.default_language)
    app.add_middleware(NoStoreMiddleware)
    if settings.access_log:
        app.add_middleware(AccessLogMiddleware, service=settings.service_name, announce_route=True)
    app.add_middleware(RequestIdMiddleware)
    return app


def add_operational_routes(app: FastAPI, readiness: Readiness) -> None:
    """`/healthz` (the process answers), `/readyz` (its dependencies answer: 503 naming those
    that don't; `degraded` names those it serves without), `/metrics`."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        unavailable, degraded = await readiness.status()
        if unavailable:
            language = request_language(request)
            return problem_response(503, NOT_READY.render(language), language, slug="not-ready",
                                    unavailable=unavailable, degraded=degraded)
        return JSONResponse({"status": "ready", "degraded": degraded} if degraded else {"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return app.state.metrics.response()

