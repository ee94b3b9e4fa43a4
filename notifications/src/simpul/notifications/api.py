"""Routes of the notifications service: thin, HTTP in and out."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from simpul.notifications.inbox import Inbox
from simpul.notifications.personaldata import PersonalData
from simpul.notifications.intake import DEAD_LETTERED, DUPLICATE, IGNORED, PROCESSED, Intake, ReplayRefused
from simpul.notifications.schemas import (
    ClientRevocationApplied,
    ClientRevoked,
    DeadLetter,
    DeliveryStatus,
    EventsAccepted,
    EventType,
    Notification,
    ReplayResult,
    RotatedSecret,
    SecretRotation,
    Template,
    TemplateList,
    TemplatePreview,
    TemplatePreviewRequest,
    TemplateUpdate,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
)
from simpul.notifications.subscriptions import Subscriptions
from simpul.notifications.template_store import TemplateStore
from simpul.notifications.templates import Sources
from simpul.shared.identity import Identity, require_roles
from simpul.shared.pagination import Page, page_params
from simpul.shared.datasubject import subject_email
from simpul.shared.problems import Problem, Text, request_language

router = APIRouter()

Admin = Annotated[Identity, Depends(require_roles("admin"))]
Subscriber = Annotated[Identity, Depends(require_roles("applicant", "officer"))]
Reader = Annotated[Identity, Depends(require_roles("applicant", "officer", "admin"))]
Service = Annotated[Identity, Depends(require_roles("service"))]
Paging = Annotated[tuple[int, str | None], Depends(page_params)]
Language = Annotated[Literal["id", "en"], Path(description="`id` or `en`")]

NOT_JSON = Text("Isi permintaan bukan JSON yang sah.", "The request body is not valid JSON.")
NOT_EVENTS = Text("Isi harus sebuah event atau larik event.", "The body must be an event or an array of events.")
DEAD_LETTER_NOT_FOUND = Text("Dead letter tidak ditemukan.", "Dead letter not found.")
OUTCOMES = (PROCESSED, IGNORED, DEAD_LETTERED, DUPLICATE)
REPLAY_REFUSED = Text("Event ini tidak dapat diproses ulang: {reason}.", "This event cannot be replayed: {reason}.")


# The use cases `create_app` built once; plain calls rather than dependencies, on hot paths.

def intake_of(request: Request) -> Intake:
    return request.app.state.intake


def inbox_of(request: Request) -> Inbox:
    return request.app.state.inbox


def personal_data_of(request: Request) -> PersonalData:
    return request.app.state.personal_data


def subscriptions_of(request: Request) -> Subscriptions:
    return request.app.state.subscriptions


def templates_of(request: Request) -> TemplateStore:
    return request.app.state.templates


# Internal: the HTTP transport of the outbox relay.

@router.post("/internal/events", include_in_schema=False)
async def receive_events(request: Request, _: Service) -> EventsAccepted:
    """A CloudEvents batch (JSON array) or a single event, handled in order. Malformed events
    are dead-lettered rather than refused, so they never block the sender's outbox."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise Problem(400, NOT_JSON, slug="malformed-json") from exc
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise Problem(400, NOT_EVENTS, slug="not-events")
    outcomes = Counter(await intake_of(request).accept_batch(body, "http"))
    return EventsAccepted(**{outcome: outcomes[outcome] for outcome in OUTCOMES})


@router.post("/internal/client-revocations", include_in_schema=False)
async def client_revoked(request: Request, service: Service, body: ClientRevoked) -> ClientRevocationApplied:
    """The gateway revoked an API client: its webhooks are disabled and their pending deliveries
    cancelled. Repeating it changes nothing more (the gateway retries until answered)."""
    applied = await subscriptions_of(request).disable_for_client(
        service, body.client_id, revoked_by=body.revoked_by, revoked_at=body.revoked_at)
    return ClientRevocationApplied(**applied)


# Inbox and dead letters.

@router.get("/v1/notifications", summary="List notifications", tags=["notifications"])
async def list_notifications(
    request: Request, identity: Reader, paging: Paging,
    event_type: Annotated[EventType | None, Query(description="Only this event type")] = None,
    submission_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[Notification]:
    """The caller's inbox: what was sent for its region (applicant) or unit (officer), newest
    first, with the delivery status of each channel."""
    items, cursor = await inbox_of(request).list_notifications(identity, *paging, event_type=event_type,
                                                               submission_id=submission_id)
    await personal_data_of(request).record_reads(identity, items)
    return Page(items=items, next_cursor=cursor)


@router.get("/v1/notifications/dead-letters", summary="List dead letters", tags=["notifications"])
async def list_dead_letters(
    request: Request, _: Admin, paging: Paging,
    replayed: Annotated[bool | None, Query(description="false: only those still waiting")] = None,
) -> Page[DeadLetter]:
    """Events that could not be handled, with the error (admin)."""
    items, cursor = await inbox_of(request).list_dead_letters(*paging, replayed=replayed)
    return Page(items=items, next_cursor=cursor)


@router.post("/v1/notifications/dead-letters/{dead_letter_id}/replay", summary="Replay a dead letter", tags=["notifications"])
async def replay_dead_letter(request: Request, _: Admin, dead_letter_id: str) -> ReplayResult:
    """Handle a dead-lettered event again, e.g. after fixing a template (admin)."""
    try:
        outcome = await intake_of(request).replay(dead_letter_id)
    except LookupError as exc:
        raise Problem(404, DEAD_LETTER_NOT_FOUND) from exc
    except ReplayRefused as exc:
        raise Problem(409, REPLAY_REFUSED, slug="replay-refused", params={"reason": str(exc)}) from exc
    return ReplayResult(id=dead_letter_id, outcome=outcome)


@router.get("/v1/notifications/{notification_id}", summary="One notification", tags=["notifications"])
async def get_notification(request: Request, identity: Reader, notification_id: str) -> Notification:
    """One notification: its event, channel, recipient, status and delivery attempts."""
    item = await inbox_of(request).get_notification(identity, notification_id)
    await personal_data_of(request).record_reads(identity, [item])
    return Notification(**item)


# Personal data: the gateway gathers the admin's export of one email (recorded as that admin's read).


@router.get("/internal/data-subjects/{email}", include_in_schema=False)
async def data_subject(request: Request, identity: Admin, email: str) -> Response:
    checked = subject_email(email, request_language(request))
    return Response(
        orjson.dumps(await personal_data_of(request).export(identity, checked)), media_type="application/json"
    )


# Webhook subscriptions.


@router.post("/v1/webhooks", summary="Create a webhook", status_code=201, tags=["webhooks"])
async def create_webhook(
    request: Request, identity: Subscriber, body: WebhookCreate, response: Response
) -> WebhookCreated:
    """Subscribe a URL to event types of the caller's region (applicant) or unit (officer). The
    `secret` verifies the Standard Webhooks signature of each delivery and is shown only here."""
    created = await subscriptions_of(request).create(identity, url=body.url, events=body.events)
    response.headers["Location"] = f"/v1/webhooks/{created['id']}"
    # The secret is shown once: not cached anywhere, and not kept for an Idempotency-Key replay.
    response.headers["Cache-Control"] = "no-store"
    return WebhookCreated(**created)


@router.get("/v1/webhooks", summary="List webhooks", tags=["webhooks"])
async def list_webhooks(request: Request, identity: Reader, paging: Paging) -> Page[Webhook]:
    """The caller's webhook subscriptions (admins: every client's)."""
    items, cursor = await subscriptions_of(request).list_visible(identity, *paging)
    return Page(items=items, next_cursor=cursor)


@router.get("/v1/webhooks/{webhook_id}", summary="One webhook", tags=["webhooks"])
async def get_webhook(request: Request, identity: Reader, webhook_id: str) -> Webhook:
    """One webhook subscription: URL, events and status; never its secret."""
    return Webhook(**await subscriptions_of(request).get(identity, webhook_id))


@router.delete("/v1/webhooks/{webhook_id}", summary="Delete a webhook", status_code=204, tags=["webhooks"])
async def delete_webhook(request: Request, identity: Reader, webhook_id: str) -> Response:
    """Delete a webhook subscription; nothing more is delivered to it."""
    await subscriptions_of(request).delete(identity, webhook_id)
    return Response(status_code=204)


@router.post("/v1/webhooks/{webhook_id}/rotate-secret", summary="Rotate a webhook's secret", tags=["webhooks"])
async def rotate_webhook_secret(
    request: Request, identity: Subscriber, webhook_id: str, response: Response, body: SecretRotation | None = None
) -> RotatedSecret:
    """A new secret; deliveries carry signatures with both secrets until the previous one expires."""
    response.headers["Cache-Control"] = "no-store"
    rotated = await subscriptions_of(request).rotate_secret(
        identity, webhook_id, body.grace_period_seconds if body else None
    )
    return RotatedSecret(**rotated)


@router.get("/v1/webhooks/{webhook_id}/deliveries", summary="List a webhook's deliveries", tags=["webhooks"])
async def list_webhook_deliveries(
    request: Request,
    identity: Reader,
    webhook_id: str,
    paging: Paging,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Page[WebhookDelivery]:
    """Every delivery to this subscription, newest first, each with every attempt."""
    items, cursor = await subscriptions_of(request).list_deliveries(identity, webhook_id, *paging, status)
    return Page(items=items, next_cursor=cursor)


# Email templates (admin).


@router.get("/v1/templates", summary="List templates", tags=["templates"])
async def list_templates(request: Request, _: Admin) -> TemplateList:
    """The message templates of every event type, by language."""
    return {"items": await templates_of(request).list_all()}


@router.get("/v1/templates/{event_type}/{language}", summary="One template", tags=["templates"])
async def get_template(request: Request, _: Admin, event_type: str, language: Language) -> Template:
    """The message template of one event type in one language (id or en)."""
    return Template(**await templates_of(request).get(event_type, language))


@router.put("/v1/templates/{event_type}/{language}", summary="Replace a template", tags=["templates"])
async def put_template(
    request: Request, identity: Admin, event_type: str, language: Language, body: TemplateUpdate
) -> Template:
    """Replace the email template of an event type in one language. Jinja2, sandboxed; HTML is
    autoescaped. Refused with 422 unless it renders the sample event."""
    sources = Sources(subject=body.subject, text=body.text, html=body.html)
    return Template(**await templates_of(request).put(identity, event_type, language, sources))


@router.post("/v1/templates/{event_type}/{language}/preview", summary="Preview a template", tags=["templates"])
async def preview_template(
    request: Request, _: Admin, event_type: str, language: Language, body: TemplatePreviewRequest | None = None
) -> TemplatePreview:
    """Render the stored template, or drafts of its parts, with sample or given event data."""
    body = body or TemplatePreviewRequest()
    drafts = {"subject": body.subject, "text": body.text, "html": body.html}
    return TemplatePreview(**await templates_of(request).preview(event_type, language, drafts, body.data))
