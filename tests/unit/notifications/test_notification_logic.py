"""Notification logic without a server: templates, planning an event, webhook URLs and
signatures, SMTP failure classes."""

from __future__ import annotations

import email
import email.policy
import ipaddress
from datetime import UTC, datetime
from types import SimpleNamespace

import aiosmtplib
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from simpul.notifications.intake import Envelope, PoisonEvent, plan_event, subscription_matches
from simpul.notifications.mail import MailDeferred, MailRejected, MailUnavailable, _classify, build_message
from simpul.notifications.settings import NotificationsSettings
from simpul.notifications.templates import DEFAULTS, OFFICIAL_EVENT_TYPES, SAMPLE_DATA, Sources, render, sample_context
from simpul.notifications.webhooks import UrlRefused, WebhookClient, address_allowed, new_secret, parse_url, sign

NOW = datetime(2025, 3, 14, 3, 30, tzinfo=UTC)
SETTINGS = NotificationsSettings(data_dir="/tmp/unused", internal_secret="x" * 32)
SOURCES = {language: DEFAULTS[("submission.status_changed", language)] for language in ("id", "en")}


def event(event_type: str = "submission.status_changed", **data) -> Envelope:
    body = {**SAMPLE_DATA.get(event_type, SAMPLE_DATA["submission.status_changed"]), **data}
    return Envelope(id="e-1", type=event_type, source="simpul/submissions", subject="submissions/s-1",
                    occurred_at=NOW, data=body)


def subscription(owner_role: str, tenant: str, events=("submission.status_changed",), id="w-1"):
    return SimpleNamespace(id=id, owner_role=owner_role, tenant=tenant, events=list(events))


@pytest.mark.parametrize("event_type,language", sorted(DEFAULTS))
def test_every_default_template_renders_its_sample(event_type, language):
    rendered = render(DEFAULTS[(event_type, language)], sample_context(event_type, language, "https://simpul.id"),
                      language)
    assert rendered.subject and "\n" not in rendered.subject
    # Applicants are addressed by name; operators are told which application.
    expected = "SPL-7K2Q-9XMA" if event_type in OFFICIAL_EVENT_TYPES else "Siti Rahma"
    assert expected in rendered.text and expected in rendered.html
    assert rendered.html.startswith("<!doctype html>")


def test_dates_and_states_are_shown_in_the_readers_language():
    context = sample_context("submission.status_changed", "id", "https://simpul.id")
    indonesian = render(SOURCES["id"], context, "id")
    assert "perlu perbaikan" in indonesian.subject
    assert "14 Maret 2025 10.30 WIB" in indonesian.text  # 03:30 UTC is 10:30 in Jakarta
    english = render(SOURCES["en"], sample_context("submission.status_changed", "en", "https://simpul.id"), "en")
    assert "revision requested" in english.subject and "14 March 2025 10.30 WIB" in english.text


def test_a_subject_stays_one_line():
    sources = Sources(subject="A\r\nBcc: evil@x.id\n{{ tracking_code }}", text="t", html="h")
    rendered = render(sources, sample_context("submission.submitted", "id", "https://simpul.id"), "id")
    assert rendered.subject == "A Bcc: evil@x.id SPL-7K2Q-9XMA"


def test_the_plan_holds_the_inbox_entry_mail_and_matching_webhooks():
    subscriptions = [subscription("applicant", "31"), subscription("applicant", "32", id="w-2"),
                     subscription("officer", "dpmptsp", id="w-3"),
                     subscription("officer", "dpmptsp", events=["submission.issued"], id="w-4")]
    plan = plan_event(event(), sources=SOURCES, subscriptions=subscriptions, settings=SETTINGS, now=NOW)
    assert plan.notification["tenant"] == "31" and plan.notification["unit"] == "dpmptsp"
    assert plan.notification["payload"]["type"] == "submission.status_changed"
    assert plan.notification["payload"]["data"]["tracking_code"] == "SPL-7K2Q-9XMA"
    email, *hooks = plan.deliveries
    assert (email["channel"], email["recipient"], email["status"]) == ("email", "siti@example.id", "pending")
    assert email["content"]["language"] == "id" and "perlu perbaikan" in email["content"]["subject"]
    assert [(hook["channel"], hook["recipient"]) for hook in hooks] == [("webhook", "w-1"), ("webhook", "w-3")]
    assert plan.channels() == {"email", "webhook"}
    assert all(delivery["give_up_at"] > NOW for delivery in plan.deliveries)


def test_a_disposition_mails_the_assignee_and_reaches_the_units_webhooks_only():
    sources = {language: DEFAULTS[("submission.step_assigned", language)] for language in ("id", "en")}
    subscriptions = [subscription("applicant", "31", events=["submission.step_assigned"]),
                     subscription("officer", "dpmptsp", events=["submission.step_assigned"], id="w-2")]
    plan = plan_event(event("submission.step_assigned", applicant={"name": "Siti", "email": "siti@example.id"}),
                      sources=sources, subscriptions=subscriptions, settings=SETTINGS, now=NOW)
    mail, hook = plan.deliveries
    assert (mail["channel"], mail["recipient"]) == ("email", "budi@example.go.id")
    assert "Budi Santoso" in mail["content"]["text"] and "Mohon diperiksa kelengkapan NIB." in mail["content"]["text"]
    assert "siti" not in mail["recipient"]
    assert (hook["channel"], hook["recipient"]) == ("webhook", "w-2")
    # Without an address in the registry: the webhook and the unit's inbox only.
    no_address = plan_event(event("submission.step_assigned", assignee={"id": "o-2", "nip": "1", "name": "B",
                                                                        "position": "P", "email": None}),
                            sources=sources, subscriptions=subscriptions, settings=SETTINGS, now=NOW)
    assert [d["channel"] for d in no_address.deliveries] == ["webhook"]
    # A late step is the unit's to chase: not mailed to the operators (who get refused documents).
    with_operators = SETTINGS.model_copy(update={"operator_emails": ["ops@example.go.id"]})
    late = plan_event(event("submission.step_overdue"), sources=sources, subscriptions=[
        subscription("officer", "dpmptsp", events=["submission.step_overdue"])], settings=with_operators, now=NOW)
    assert [d["channel"] for d in late.deliveries] == ["webhook"]


def test_subscriptions_match_by_role_and_type():
    assert subscription_matches(subscription("applicant", "31"), "submission.status_changed", "31", "u")
    assert not subscription_matches(subscription("applicant", "31"), "submission.status_changed", "32", "31")
    assert subscription_matches(subscription("officer", "u"), "submission.status_changed", "31", "u")
    assert not subscription_matches(subscription("officer", "u"), "submission.status_changed", "u", None)
    assert not subscription_matches(subscription("applicant", "31"), "submission.issued", "31", "u")
    assert not subscription_matches(subscription("admin", "31"), "submission.status_changed", "31", "u")


@pytest.mark.parametrize("change", [{"tenant": None}, {"submission_id": ""}, {"tenant": 31}])
def test_events_missing_what_routing_needs_are_poison(change):
    with pytest.raises(PoisonEvent):
        plan_event(event(**change), sources=SOURCES, subscriptions=[], settings=SETTINGS, now=NOW)


def test_no_mail_without_an_address_and_a_failed_channel_for_a_bad_one():
    silent = plan_event(event(applicant={"name": "A"}), sources=SOURCES, subscriptions=[], settings=SETTINGS, now=NOW)
    assert silent.deliveries == [] and silent.channels() == set()
    bad = plan_event(event(applicant={"name": "A", "email": "no-at-sign"}), sources=SOURCES, subscriptions=[],
                     settings=SETTINGS, now=NOW)
    assert [(d["status"], d["last_error"]) for d in bad.deliveries] == [("failed", "invalid email address")]
    assert bad.channels() == set()


@pytest.mark.parametrize("address,private_ok,allowed", [
    ("93.184.216.34", False, True),
    ("2606:4700::1111", False, True),
    ("127.0.0.1", False, False), ("127.0.0.1", True, True),
    ("10.0.0.1", False, False), ("10.0.0.1", True, True),
    ("192.168.10.1", True, True), ("fd00::1", False, False),
    ("::ffff:127.0.0.1", False, False), ("::ffff:8.8.8.8", False, True),
    ("169.254.169.254", True, False), ("fe80::1", True, False),
    ("0.0.0.0", True, False), ("224.0.0.1", True, False), ("240.0.0.1", True, False),
    ("100.64.0.1", True, False),
    # IPv6 addresses that reach an IPv4 host are judged by it: 6to4 and NAT64 (RFC 6052).
    ("2002:7f00:1::1", False, False), ("2002:a9fe:a9fe::", True, False), ("2002:808:808::1", False, True),
    ("64:ff9b::7f00:1", False, False), ("64:ff9b::a9fe:a9fe", True, False), ("64:ff9b::808:808", False, True),
    ("64:ff9b::a00:1", True, True), ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, False),
])
def test_which_addresses_webhooks_may_reach(address, private_ok, allowed):
    assert address_allowed(ipaddress.ip_address(address), private_ok) is allowed


@pytest.mark.parametrize("url", ["ftp://x.id/", "http://user:pw@x.id/", "http://x.id/#frag", "http://x.id:99999/",
                                 "https:///path", "x" * 2001])
def test_malformed_webhook_urls_are_refused(url):
    with pytest.raises(UrlRefused):
        parse_url(url)


def test_parse_url_defaults_the_port():
    assert parse_url("https://hooks.example.id/x") == ("hooks.example.id", 443)
    assert parse_url("http://[::1]:8080/x") == ("::1", 8080)


def test_signatures_verify_with_either_secret_during_a_rotation():
    old, new = new_secret(), new_secret()
    now = datetime.now(UTC)
    body = '{"type":"submission.issued"}'
    header = sign([new, old], "msg_1", now, body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": header}
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "submission.issued"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + " ", headers)


def _refused_connection() -> aiosmtplib.SMTPConnectError:
    try:
        raise aiosmtplib.SMTPConnectError("Error connecting to smtp.internal on port 25") from ConnectionRefusedError(
            111, "Connection refused")
    except aiosmtplib.SMTPConnectError as exc:
        return exc


@pytest.mark.parametrize("error,kind", [
    (ConnectionRefusedError(111, "refused"), MailUnavailable),
    (_refused_connection(), MailUnavailable),
    (aiosmtplib.SMTPServerDisconnected("gone"), MailUnavailable),
    (aiosmtplib.SMTPReadTimeoutError("timed out"), MailUnavailable),
    (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), MailUnavailable),
    (aiosmtplib.SMTPDataError(421, "closing"), MailUnavailable),
    (aiosmtplib.SMTPRecipientRefused(450, "mailbox busy", "a@x.id"), MailDeferred),
    (aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@x.id"), MailRejected),
    (aiosmtplib.SMTPDataError(452, "insufficient storage"), MailDeferred),
    (aiosmtplib.SMTPDataError(554, "rejected"), MailRejected),
    (aiosmtplib.SMTPSenderRefused(553, "bad sender", "no-reply@x"), MailRejected),
])
def test_smtp_failures_are_classified(error, kind):
    classified = _classify(error)
    assert isinstance(classified, kind)
    assert "smtp.internal" not in str(classified)  # the server's host stays out of the recorded error


def parsed(mail) -> email.message.EmailMessage:
    return email.message_from_bytes(mail.data, policy=email.policy.default)


def test_a_message_id_derives_from_its_delivery():
    content = {"language": "en", "subject": "Hello", "text": "Hi", "html": "<p>Hi</p>"}
    first = build_message(delivery_id="d-1", recipient="a@x.id", content=content, mail_from="Simpul <no-reply@simpul.id>")
    again = build_message(delivery_id="d-1", recipient="a@x.id", content=content, mail_from="Simpul <no-reply@simpul.id>")
    assert parsed(first)["Message-ID"] == parsed(again)["Message-ID"] == "<d-1@simpul.id>"
    assert first.sender == "no-reply@simpul.id" and first.recipient == "a@x.id"
    message = parsed(first)
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "Hi"
    assert message.get_body(("html",)).get_content().strip() == "<p>Hi</p>"
    assert b"\r\n" in first.data and b"\n" not in first.data.replace(b"\r\n", b"")


def test_a_message_carries_any_language_safely():
    subject = "Permohonan — dokumen “terbit” " + "panjang " * 20
    content = {"language": "id", "subject": subject, "text": "Yth. Ñoño,\nSalam", "html": "<p>Ñoño &amp; co</p>"}
    mail = build_message(delivery_id="d-2", recipient="a@x.id", content=content,
                         mail_from="Layanan Terpadu Ñ <no-reply@simpul.id>")
    mail.data.decode("ascii")  # 7-bit on the wire
    assert all(len(line) <= 998 for line in mail.data.split(b"\r\n"))
    message = parsed(mail)
    assert message["Subject"] == subject
    assert message["From"].addresses[0].display_name == "Layanan Terpadu Ñ"
    assert message["Content-Language"] == "id" and message["Auto-Submitted"] == "auto-generated"
    # Lines end in CRLF on the wire, which the parser keeps in a quoted-printable part.
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Yth. Ñoño,\nSalam"
    assert message.get_body(("html",)).get_content() == "<p>Ñoño &amp; co</p>"


async def test_the_client_refuses_internal_addresses_at_delivery_time_too(tmp_path):
    """A subscription made while loopback was allowed, or a name that now resolves inward: the
    connection is never opened."""
    client = WebhookClient(NotificationsSettings(data_dir=tmp_path, internal_secret="x" * 32,
                                                 webhook_allow_loopback=False, webhook_timeout_seconds=2))
    try:
        for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook"):
            result = await client.post(url, b"{}", {"content-type": "application/json"})
            assert not result.delivered and result.status_code is None
            assert result.error == "address not allowed", (url, result.error)
    finally:
        await client.close()
