"""The consumer through its internal endpoint: inbox entries, email, redelivery, poison events."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, update

from simpul.notifications.models import deliveries, processed_events, templates
from simpul.notifications.settings import NotificationsSettings
from tests.api.notifications.conftest import (
    OTHER_UNIT,
    UNIT,
    admin,
    applicant,
    complaint_event,
    envelope,
    officer,
    service,
    submission_event,
)


async def test_an_event_reaches_the_inbox_and_the_applicants_mailbox(harness, mail):
    event = submission_event(tenant="31", unit=UNIT, email="Siti@Example.ID", language="en",
                             note="Please wait <a few> days")
    assert await harness.send(event) == {"processed": 1, "ignored": 0, "dead_lettered": 0, "duplicate": 0}

    await harness.eventually(lambda: mail.received(), message="no mail")
    (message,) = mail.received()
    assert message["To"] == "siti@example.id"
    assert message["Subject"] == f"Application {event['data']['tracking_code']}: in review"
    assert message["Content-Language"] == "en"
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "changed from submitted to in review" in text and "Please wait <a few> days" in text
    assert "Please wait &lt;a few&gt; days" in html and "<a few>" not in html

    async def sent():
        return (await harness.channel(event["id"], "email"))["status"] == "sent"

    await harness.eventually(sent, message="email channel not marked sent")
    (item,) = await harness.inbox(applicant("31"))
    assert item["event_id"] == event["id"] and item["event_type"] == "submission.status_changed"
    assert item["submission_id"] == event["data"]["submission_id"]
    assert item["tracking_code"] == event["data"]["tracking_code"]
    assert item["data"]["to"] == "in_review"
    assert item["channels"] == [{"channel": "email", "recipient": "siti@example.id", "status": "sent",
                                 "attempts": 1, "updated_at": item["channels"][0]["updated_at"]}]
    assert [entry["event_id"] for entry in await harness.inbox(officer(UNIT))] == [event["id"]]
    assert await harness.inbox(applicant("32")) == []
    assert await harness.inbox(officer(OTHER_UNIT)) == []
    one = await harness.client.get(f"/v1/notifications/{item['id']}", headers=applicant("31"))
    assert one.status_code == 200 and one.json()["id"] == item["id"]
    hidden = await harness.client.get(f"/v1/notifications/{item['id']}", headers=applicant("32"))
    assert hidden.status_code == 404


async def test_indonesian_is_the_default_language(harness, mail):
    for language in ("id", "fr"):
        await harness.send(submission_event("submission.submitted", language=language, email=f"{language}@x.id"))
    await harness.eventually(lambda: len(mail.received()) == 2)
    for address in ("id@x.id", "fr@x.id"):
        (message,) = mail.to(address)
        assert message["Subject"].startswith("Permohonan ") and message["Subject"].endswith(" telah diterima")


async def test_a_redelivered_event_does_nothing(harness, mail):
    event = submission_event()
    assert (await harness.send(event))["processed"] == 1
    assert (await harness.send(event, event))["duplicate"] == 2
    await harness.eventually(lambda: mail.received())
    await asyncio.sleep(0.3)  # room for a second mail, which must not come
    assert len(await harness.inbox(admin())) == 1
    async with harness.app.state.read_sessions() as session:
        rows = (await session.execute(select(func.count()).select_from(deliveries))).scalar_one()
    assert rows == 1
    assert len(mail.received()) == 1


async def test_unknown_types_are_recorded_and_ignored(harness, mail):
    document = envelope("document.issued", "documents/d-1", {"document_id": "d-1"}, source="simpul/signatures")
    assert (await harness.send(document))["ignored"] == 1
    assert (await harness.send(document))["duplicate"] == 1
    async with harness.app.state.read_sessions() as session:
        outcome = (await session.execute(select(processed_events.c.outcome)
                                         .where(processed_events.c.event_id == document["id"]))).scalar_one()
    assert outcome == "ignored"
    assert await harness.inbox(admin()) == []


async def test_poison_events_go_to_the_dead_letters_and_block_nothing(harness, mail):
    good_before = submission_event(email="before@x.id")
    no_tenant = submission_event(email="never@x.id")
    del no_tenant["data"]["tenant"]
    no_id = {key: value for key, value in submission_event().items() if key != "id"}
    counts = await harness.send(good_before, no_tenant, no_id, "not an event", submission_event(email="after@x.id"))
    assert counts == {"processed": 2, "ignored": 0, "dead_lettered": 3, "duplicate": 0}
    await harness.eventually(lambda: len(mail.received()) == 2)
    assert sorted(message["To"] for message in mail.received()) == ["after@x.id", "before@x.id"]

    # A dead-lettered event with an id counts as processed: a redelivery is a duplicate.
    assert (await harness.send(no_tenant))["duplicate"] == 1

    listed = await harness.client.get("/v1/notifications/dead-letters", headers=admin())
    assert listed.status_code == 200
    letters = listed.json()["items"]
    assert len(letters) == 3
    by_event = {letter["event_id"]: letter for letter in letters if letter["envelope"] != {"raw": "'not an event'"}}
    assert by_event[no_tenant["id"]]["error"] == "data.tenant is missing or not a string"
    assert by_event[no_tenant["id"]]["envelope"] == no_tenant
    assert by_event[no_tenant["id"]]["transport"] == "http"
    assert by_event[None]["error"] == "invalid envelope: id: Field required"
    assert any(letter["envelope"] == {"raw": "'not an event'"} for letter in letters)

    for headers in (applicant("31"), officer(UNIT)):
        refused = await harness.client.get("/v1/notifications/dead-letters", headers=headers)
        assert refused.status_code == 403


async def test_a_dead_letter_is_replayed_once_its_cause_is_fixed(harness, mail):
    async with harness.app.state.sessions.begin() as session:
        # A template broken behind the API's back (the API refuses such templates).
        await session.execute(update(templates).where(templates.c.event_type == "complaint.updated",
                                                      templates.c.language == "id")
                              .values(subject="{{ no_such_field.name }}"))
    event = complaint_event(email="warga@x.id")
    assert (await harness.send(event))["dead_lettered"] == 1
    (letter,) = (await harness.client.get("/v1/notifications/dead-letters", headers=admin())).json()["items"]
    assert "UndefinedError" in letter["error"]

    refused = await harness.client.post(f"/v1/notifications/dead-letters/{letter['id']}/replay", headers=admin())
    assert refused.status_code == 409

    default = (await harness.client.get("/v1/templates/complaint.updated/en", headers=admin())).json()
    fixed = {"subject": "Pengaduan: {{ status | status }}", "text": default["text"], "html": default["html"]}
    assert (await harness.client.put("/v1/templates/complaint.updated/id", json=fixed,
                                     headers=admin())).status_code == 200
    replayed = await harness.client.post(f"/v1/notifications/dead-letters/{letter['id']}/replay", headers=admin())
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"id": letter["id"], "outcome": "processed"}
    await harness.eventually(lambda: mail.to("warga@x.id"))
    assert mail.to("warga@x.id")[0]["Subject"] == "Pengaduan: sedang ditangani"

    again = await harness.client.post(f"/v1/notifications/dead-letters/{letter['id']}/replay", headers=admin())
    assert again.status_code == 409
    assert (await harness.send(event))["duplicate"] == 1
    waiting = await harness.client.get("/v1/notifications/dead-letters", params={"replayed": "false"},
                                       headers=admin())
    assert waiting.json()["items"] == []


async def test_complaint_events_follow_the_tenant_and_unit(harness, mail):
    with_unit = complaint_event(tenant="31", unit=UNIT)
    without_unit = complaint_event(tenant="31", unit=None)
    await harness.send(with_unit, without_unit)
    assert {item["event_id"] for item in await harness.inbox(applicant("31"))} == {with_unit["id"], without_unit["id"]}
    assert [item["complaint_id"] for item in await harness.inbox(officer(UNIT))] == [with_unit["data"]["complaint_id"]]


async def test_an_invalid_address_is_a_failed_channel_not_a_poison_event(harness, mail):
    event = submission_event(email="not an address")
    assert (await harness.send(event))["processed"] == 1
    channel = await harness.channel(event["id"], "email")
    assert channel["status"] == "failed"


async def test_only_services_may_push_events(harness):
    body = json.dumps([submission_event()])
    for headers, status in ((applicant("31"), 403), (admin(), 403), ({}, 401)):
        response = await harness.client.post("/internal/events", content=body, headers=headers)
        assert response.status_code == status
    single = await harness.client.post("/internal/events", json=submission_event(), headers=service())
    assert single.json()["processed"] == 1
    broken = await harness.client.post("/internal/events", content=b"{", headers=service())
    assert broken.status_code == 400
    scalar = await harness.client.post("/internal/events", content=b"42", headers=service())
    assert scalar.status_code == 400


async def test_without_an_smtp_server_mail_goes_to_the_mailbox_folder(start, mail):
    async with start(smtp_host=None) as harness:
        event = submission_event(email="kotak@x.id")
        await harness.send(event)

        async def delivered():
            return (await harness.channel(event["id"], "email"))["status"] == "delivered"

        await harness.eventually(delivered)
        mailbox = harness.settings.data_dir / "mailbox"
        (path,) = list(mailbox.glob("*.eml"))
        assert "kotak@x.id" in path.read_text()
    assert mail.received() == []


async def test_one_mail_per_state_change_when_a_dedicated_event_comes_along(harness, mail, receiver):
    """Submissions stages `status_changed` and `submitted` (or `issued`) for the same change."""
    response = await harness.client.post("/v1/webhooks", json={"url": receiver.url(), "events": [
        "submission.submitted", "submission.status_changed", "submission.issued"]}, headers=applicant("31"))
    assert response.status_code == 201
    submission_id = "sub-1"
    changed = submission_event("submission.status_changed", submission_id=submission_id, email="one@x.id",
                               **{"from": "draft", "to": "submitted"})
    submitted = submission_event("submission.submitted", submission_id=submission_id, email="one@x.id",
                                 **{"from": "draft", "to": "submitted"})
    issued_change = submission_event("submission.status_changed", submission_id=submission_id, email="one@x.id",
                                     **{"from": "approved", "to": "issued"})
    issued = submission_event("submission.issued", submission_id=submission_id, email="one@x.id",
                              issued_documents=[{"document_id": "d-1", "verify_url": "http://v/d-1"}],
                              **{"from": "approved", "to": "issued"})
    await harness.send(changed, submitted, issued_change, issued)
    await harness.eventually(lambda: len(receiver.accepted_ids()) == 4, message="webhooks get every event")
    await harness.eventually(lambda: len(mail.received()) == 2)
    await asyncio.sleep(0.3)
    subjects = sorted(message["Subject"] for message in mail.received())
    assert len(subjects) == 2
    assert subjects[0].startswith("Dokumen permohonan") and subjects[1].startswith("Permohonan ")
    assert len(await harness.inbox(applicant("31"))) == 4


def issue_failed_event(*, tenant: str = "31", unit: str = UNIT) -> dict:
    event = submission_event("submission.issue_failed", tenant=tenant, unit=unit)
    data = event["data"]
    for name in ("applicant", "from", "to", "note", "at", "due_at", "service_name"):
        data.pop(name)
    data.update(status="failed", reason="signatures answered 422: applicant.name contains a control character",
                failed_at="2030-01-03T04:05:06+00:00", attempts=1)
    return event


async def test_a_refused_document_reaches_the_operators_and_the_unit_not_the_applicant(start, mail, receiver):
    async with start(operator_emails="Ops@Kemendagri.go.id, oncall@kemendagri.go.id") as harness:
        assert harness.settings.operator_emails == ["ops@kemendagri.go.id", "oncall@kemendagri.go.id"]
        refused = await harness.client.post("/v1/webhooks", json={
            "url": receiver.url(), "events": ["submission.issue_failed"]}, headers=applicant("31"))
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "events"
        hook = await harness.client.post("/v1/webhooks", json={
            "url": receiver.url(), "events": ["submission.issue_failed"]}, headers=officer(UNIT))
        assert hook.status_code == 201, hook.text

        event = issue_failed_event()
        assert (await harness.send(event))["processed"] == 1
        await harness.eventually(lambda: len(mail.received()) == 2, message="operators not mailed")
        assert sorted(message["To"] for message in mail.received()) == ["oncall@kemendagri.go.id",
                                                                         "ops@kemendagri.go.id"]
        message = mail.received()[0]
        assert message["Subject"] == f"Penerbitan dokumen {event['data']['tracking_code']} gagal"
        assert "control character" in message.get_body(("plain",)).get_content()
        await harness.eventually(lambda: receiver.received(), message="the unit's webhook got nothing")
        assert json.loads(receiver.received()[0].body)["type"] == "submission.issue_failed"

        assert [item["event_type"] for item in await harness.inbox(officer(UNIT))] == ["submission.issue_failed"]
        assert [item["event_type"] for item in await harness.inbox(admin())] == ["submission.issue_failed"]
        assert await harness.inbox(applicant("31")) == []
        (item,) = await harness.inbox(admin())
        hidden = await harness.client.get(f"/v1/notifications/{item['id']}", headers=applicant("31"))
        assert hidden.status_code == 404


async def test_without_operator_addresses_a_refused_document_is_in_the_units_inbox_only(harness, mail):
    event = issue_failed_event()
    assert (await harness.send(event))["processed"] == 1
    (item,) = await harness.inbox(officer(UNIT))
    assert item["channels"] == []
    await asyncio.sleep(0.3)
    assert mail.received() == []


async def test_an_operator_address_that_is_not_one_stops_the_start(settings_for):
    with pytest.raises(ValidationError, match="not a mail address"):
        await settings_for(NotificationsSettings, operator_emails="ops@kemendagri.go.id, nobody")


@pytest.mark.parametrize(("event_type", "subject", "says"), [
    ("payment.billed", "Tagihan 820250000012343 untuk permohonan", "dikenai biaya Rp 150.000"),
    ("payment.paid", "Pembayaran tagihan 820250000012343 diterima", "Pembayaran Rp 150.000"),
    ("payment.expired", "Tagihan 820250000012343 kedaluwarsa", "kini kedaluwarsa"),
    ("payment.mismatch", "Pembayaran tagihan 820250000012343 tidak sesuai", "Pembayaran Rp 100.000"),
    ("payment.awaited", "Permohonan SPL", "menunggu pembayaran Rp 150.000 dengan kode billing 820250000012343"),
])
async def test_payment_events_reach_the_applicants_mailbox_and_inbox(harness, mail, event_type, subject, says):
    bill = {"code": "820250000012343", "amount": 150000, "status": "unpaid",
            "expires_at": "2030-01-10T16:59:59+00:00", "paid_at": "2030-01-05T03:00:00+00:00"}
    payment = {"amount": 100000 if event_type == "payment.mismatch" else 150000, "reference": "NTPN-1"}
    event = submission_event(event_type, bill=bill, payment=payment)
    assert (await harness.send(event))["processed"] == 1
    await harness.eventually(lambda: mail.received(), message="no mail")
    (message,) = mail.received()
    assert message["Subject"].startswith(subject)
    assert says in message.get_body(("plain",)).get_content()
    (item,) = await harness.inbox(applicant("31"))
    assert item["event_type"] == event_type and item["data"]["bill"]["code"] == bill["code"]
    assert [entry["event_id"] for entry in await harness.inbox(officer(UNIT))] == [event["id"]]
