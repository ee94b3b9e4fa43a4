from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

import httpx
from fastapi import FastAPI

from simpul.shared.app import create_service_app
from simpul.shared.db import utcnow
from simpul.shared.envelope import ReloadingKeys, keys_for
from simpul.shared.internal import InternalClient
from simpul.shared.relay import OutboxRelay, Transport, relay_balancers, transport_for
from simpul.shared.storage import open_blob_store
from simpul.submissions.api import DOCUMENTS_PATH, router
from simpul.submissions.calendar import CalendarOverrides, WorkingCalendar
from simpul.submissions.catalog import CatalogClient
from simpul.submissions.feedback.api import ATTACHMENTS_PATH
from simpul.submissions.feedback.api import router as feedback_router
from simpul.submissions.feedback.complaints import ComplaintPolicy, ComplaintService
from simpul.submissions.feedback.reports import PerformanceService
from simpul.submissions.feedback.surveys import SurveyService
from simpul.submissions.issuer import Issuer
from simpul.submissions.models import audit, idempotency, outbox
from simpul.submissions.payments.api import PAYMENTS_PATH
from simpul.submissions.payments.api import router as payments_router
from simpul.submissions.payments.receipts import ReceiptIssuer
from simpul.submissions.payments.service import PaymentService
from simpul.submissions.open311.api import router as open311_router
from simpul.submissions.open311.service import Open311Service
from simpul.submissions.privacy.api import router as privacy_router
from simpul.submissions.privacy.erasure import Eraser, PartHooks
from simpul.submissions.privacy.export import SubjectExport
from simpul.submissions.reads import ReadLog
from simpul.submissions.officials import GatewayOfficials
from simpul.submissions.step_overdue import StepOverdueWatch
from simpul.submissions.service import SubmissionService
from simpul.submissions.settings import SubmissionsSettings


def create_app(
    settings: SubmissionsSettings | None = None,
    *,
    catalog_transport: httpx.AsyncBaseTransport | None = None,
    signatures_transport: httpx.AsyncBaseTransport | None = None,
    event_transport: Transport | None = None,
    clock: Callable[[], datetime] = utcnow,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The transports replace the network to the catalogue, signatures and gateway (its registry
    of officials) and the destination of events (tests)."""
    settings = settings or SubmissionsSettings()
    overrides = CalendarOverrides.load(settings.calendar_file) if settings.calendar_file else None
    secret = settings.resolved_internal_secret()
    catalog_client = InternalClient(
        caller="submissions", target="catalog", base_url=settings.catalog_url, secret=secret,
        transport=catalog_transport,
    )
    catalog = CatalogClient(catalog_client, cache_seconds=settings.catalog_cache_seconds)
    gateway = InternalClient(
        caller="submissions", target="gateway", base_url=settings.gateway_url, secret=secret,
        transport=gateway_transport,
    )
    officials = GatewayOfficials(gateway)
    signatures = InternalClient(
        caller="submissions", target="signatures", base_url=settings.signatures_url, secret=secret,
        transport=signatures_transport,
    )

    async def start(app: FastAPI) -> None:
        relay = OutboxRelay(
            app.state.sessions, app.state.read_sessions, outbox, event_transport or transport_for(settings)
        )
        relay.watch(app.state.sessions)
        await relay.start()
        app.state.relay = relay
        app.state.issuer.worker.start()
        app.state.closer = app.state.complaints.closing_worker(settings.complaint_close_poll_seconds)
        app.state.closer.start()
        app.state.retention = app.state.eraser.worker(settings.retention_poll_seconds)
        app.state.retention.start()
        app.state.step_watch = app.state.step_overdue.worker(settings.step_overdue_poll_seconds)
        app.state.step_watch.start()
        app.state.bill_expiry = app.state.payments.expiry_worker(settings.bill_expiry_poll_seconds)
        app.state.bill_expiry.start()
        app.state.kuitansi = app.state.receipts.worker(settings.issue_poll_seconds)
        app.state.kuitansi.start()

    async def stop(app: FastAPI) -> None:
        await app.state.kuitansi.stop()
        await app.state.bill_expiry.stop()
        await app.state.step_watch.stop()
        await app.state.retention.stop()
        await app.state.closer.stop()
        await app.state.issuer.worker.stop()
        await app.state.relay.stop()
        await catalog.aclose()
        await signatures.aclose()
        await officials.aclose()

    app = create_service_app(
        settings,
        title="Simpul submissions",
        description="Submissions and their documents, review, SLA clock, receipts, tracking, complaints, surveys and reports.",
        migrations=Path(__file__).parent / "migrations",
        idempotency=idempotency,
        audit=audit,
        on_startup=[start],
        on_shutdown=[stop],
        streaming_paths=(DOCUMENTS_PATH, ATTACHMENTS_PATH, PAYMENTS_PATH),
    )
    app.state.metrics.watch(lambda: [catalog_client.balancer, signatures.balancer, gateway.balancer,
                                     *relay_balancers(getattr(app.state, "relay", None))])
    store = open_blob_store(settings.storage_url, directory=settings.storage_dir(), settings=settings,
                            registry=app.state.metrics.registry)
    calendar = WorkingCalendar(overrides)
    reads = ReadLog(app.state.sessions, app.state.read_sessions, clock)
    app.state.reads = reads
    # What every use-case object works with (access.UseCases).
    shared = {"sessions": app.state.sessions, "read_sessions": app.state.read_sessions, "catalog": catalog,
              "store": store, "calendar": calendar, "clock": clock, "reads": reads}
    payments = PaymentService(
        **shared,
        keks=ReloadingKeys(partial(keys_for, settings)),
        expiry_days=settings.bill_expiry_days,
        max_proof_bytes=min(settings.payment_proof_max_bytes, settings.max_upload_bytes),
    )
    app.state.payments = payments
    app.state.receipts = ReceiptIssuer(payments=payments, signatures=signatures,
                                       retry_base_seconds=settings.issue_retry_base_seconds,
                                       retry_max_seconds=settings.issue_retry_max_seconds)
    payments.wake_receipts = lambda: app.state.kuitansi.wake()
    submissions = SubmissionService(
        **shared,
        max_upload_bytes=settings.max_upload_bytes,
        on_approved=lambda: app.state.issuer.worker.wake(),
        officials=officials,
        hooks=payments,
    )
    app.state.step_overdue = StepOverdueWatch(
        sessions=app.state.sessions, read_sessions=app.state.read_sessions, clock=clock
    )
    app.state.submissions = submissions
    app.state.issuer = Issuer(
        submissions,
        signatures,
        poll_seconds=settings.issue_poll_seconds,
        retry_base_seconds=settings.issue_retry_base_seconds,
        retry_max_seconds=settings.issue_retry_max_seconds,
        concurrency=settings.issue_concurrency,
        lease_seconds=settings.issue_lease_seconds,
    )
    app.state.clock = clock
    app.state.surveys = SurveyService(
        sessions=app.state.sessions,
        read_sessions=app.state.read_sessions,
        clock=clock,
        min_respondents=settings.ikm_min_respondents,
    )
    app.state.performance = PerformanceService(
        read_sessions=app.state.read_sessions, clock=clock, surveys=app.state.surveys,
        cache_seconds=settings.report_cache_seconds, fees=payments.fees_collected,
    )
    app.state.complaints = ComplaintService(
        **shared,
        policy=ComplaintPolicy(
            verification_working_days=settings.complaint_verification_working_days,
            follow_up_working_days=settings.complaint_follow_up_working_days,
            reopen_working_days=settings.complaint_reopen_working_days,
        ),
        max_attachments=settings.complaint_max_attachments,
        attachment_max_bytes=min(settings.complaint_attachment_max_bytes, settings.max_upload_bytes),
    )
    complaints = app.state.complaints
    app.state.eraser = Eraser(
        app.state.sessions, app.state.read_sessions, store, clock, settings.personal_data_retention_days,
        PartHooks(erase=complaints.erase_personal_data, files_in_use=complaints.files_in_use),
    )
    app.state.subject_export = SubjectExport(
        app.state.read_sessions, reads, clock,
        {"complaints": complaints.subject_export, "surveys": app.state.surveys.subject_export},
    )
    app.state.open311 = Open311Service(submissions, catalog, app.state.read_sessions)
    app.include_router(router)
    app.include_router(open311_router)
    app.include_router(feedback_router)
    app.include_router(privacy_router)
    app.include_router(payments_router)
    return app
