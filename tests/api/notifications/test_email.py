"""Email delivery against a real SMTP server (aiosmtpd): outages, deferrals, rejections."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta

from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sqlalchemy import select

from simpul.notifications.models import deliveries, delivery_attempts
from tests.api.notifications.conftest import submission_event
from tests.e2e.notifications.receivers import MailSink


async def attempts_of(harness, event_id: str) -> list:
    async with harness.app.state.read_sessions() as session:
        return (await session.execute(
            select(delivery_attempts).join(deliveries, deliveries.c.id == delivery_attempts.c.delivery_id)
            .where(deliveries.c.event_id == event_id).order_by(delivery_attempts.c.attempt))).all()


async def test_mail_waits_for_a_server_that_is_down_and_arrives_once(harness, mail):
    mail.stop()
    events = [submission_event(email=f"warga{n}@x.id") for n in range(12)]
    await harness.send(*events)

    async def tried_and_waiting():
        channel = await harness.channel(events[0]["id"], "email")
        return channel["status"] == "pending" and channel["attempts"] >= 2

    await harness.eventually(tried_and_waiting, message="no retries while the server is down")
    # While the server is down the channel backs off as a whole: the first mail of each
    # connection probes, the others wait untried.
    attempts = [(await harness.channel(event["id"], "email"))["attempts"] for event in events]
    assert attempts.count(0) >= len(events) - harness.settings.smtp_connections

    mail.start()
    await harness.eventually(lambda: len(mail.received()) == 12, message="mail did not arrive after the outage")
    await asyncio.sleep(0.5)  # room for duplicates, which must not come
    assert sorted(mail.message_ids().values()) == [1] * 12
    assert sorted(message["To"] for message in mail.received()) == sorted(f"warga{n}@x.id" for n in range(12))
    for event in events:
        await harness.eventually(lambda event=event: _status(harness, event["id"], "sent"))
    first = await attempts_of(harness, events[0]["id"])
    assert [attempt.outcome for attempt in first][-1] == "sent"
    assert all(attempt.outcome == "retry" and attempt.error for attempt in first[:-1])


async def _status(harness, event_id: str, status: str) -> bool:
    return (await harness.channel(event_id, "email"))["status"] == status


async def test_a_deferred_message_is_retried_and_a_rejected_one_fails(harness, mail):
    mail.replies["later@x.id"] = ["451 4.3.0 Try again later"]
    mail.replies["gone@x.id"] = ["550 5.1.1 No such user"]
    later, gone, fine = (submission_event(email=address) for address in ("later@x.id", "gone@x.id", "fine@x.id"))
    await harness.send(later, gone, fine)

    await harness.eventually(lambda: _status(harness, later["id"], "sent"))
    await harness.eventually(lambda: _status(harness, gone["id"], "failed"))
    await harness.eventually(lambda: _status(harness, fine["id"], "sent"))
    assert sorted(message["To"] for message in mail.received()) == ["fine@x.id", "later@x.id"]
    assert [(attempt.outcome, attempt.error) for attempt in await attempts_of(harness, later["id"])] == [
        ("retry", "recipient refused: SMTP 451"), ("sent", None)]
    assert [(attempt.outcome, attempt.error) for attempt in await attempts_of(harness, gone["id"])] == [
        ("failed", "recipient refused: SMTP 550")]


async def test_mail_fails_once_its_retry_window_has_passed(start, mail):
    mail.stop()
    async with start(email_retry_window_seconds=0.3) as harness:
        event = submission_event()
        await harness.send(event)
        await harness.eventually(lambda: _status(harness, event["id"], "failed"), message="never failed")
        attempts = await attempts_of(harness, event["id"])
        assert attempts[-1].outcome == "failed" and "Connection" in attempts[-1].error


def tls_contexts(directory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context, and a client's trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "simpul test smtp")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
                   .not_valid_after(now + timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    return server, ssl.create_default_context(cafile=str(cert_path))


async def test_starttls_and_login_and_the_password_never_shows(start, tmp_path, monkeypatch, caplog):
    server_tls, client_tls = tls_contexts(tmp_path)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"simpul" and auth_data.password == b"kata-sandi-rahasia"
        return AuthResult(success=ok, handled=False)

    sink = MailSink(tls_context=server_tls, require_starttls=True, authenticator=authenticator,
                    auth_require_tls=True)
    sink.start()
    # The production context verifies against the system's CAs; here it trusts the test's own.
    # (The ssl module's function itself is replaced: httpx clients made meanwhile call it too.)
    monkeypatch.setattr("simpul.notifications.mail.ssl.create_default_context", lambda *_, **__: client_tls)
    try:
        common = {"smtp_port": sink.port, "smtp_starttls": True, "smtp_user": "simpul"}
        async with start(smtp_password="kata-sandi-rahasia", **common) as harness:
            event = submission_event(email="aman@x.id")
            await harness.send(event)
            await harness.eventually(lambda: sink.to("aman@x.id"), message="no mail over STARTTLS")
            assert "kata-sandi-rahasia" not in repr(harness.settings)
        async with start(smtp_password="salah-sandi", **common) as harness:
            event = submission_event(email="tertahan@x.id")
            await harness.send(event)

            async def refused():
                channel = await harness.channel(event["id"], "email")
                return channel["status"] == "pending" and channel["attempts"] >= 1

            await harness.eventually(refused)
            (attempt, *_) = await attempts_of(harness, event["id"])
            assert attempt.error == "SMTPAuthenticationError: SMTP 535"
        assert sink.to("tertahan@x.id") == []
        assert "sandi" not in caplog.text
    finally:
        sink.stop()


async def test_mail_reads_as_text_and_links_to_the_tracking_page(harness, mail):
    plain = submission_event(name="Siti Rahma")
    accented = submission_event(name="Ñoño Łukasz", language="en", email="nono@x.id")
    await harness.send(plain, accented)
    await harness.eventually(lambda: mail.count() == 2, message="mail did not arrive")
    by_recipient = {message["To"]: (message, raw) for message, raw in zip(mail.received(), mail.raw(), strict=True)}
    public_url = harness.settings.public_url.rstrip("/")

    message, raw = by_recipient["siti@example.id"]
    code = plain["data"]["tracking_code"]
    track_url = f"{public_url}/v1/track/{code}"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    source = raw.decode("ascii")
    # What `cat` shows: the text as written, the link whole, nothing base64.
    assert "base64" not in source and "Content-Transfer-Encoding: 7bit" in source
    assert "Yth. Siti Rahma," in source and f"Pantau statusnya di {track_url}\r\n" in source
    assert f'<a href="{track_url}">' in source
    # (The parser keeps the wire's CRLF line ends in a 7bit part; a mail client shows lines.)
    assert f"{track_url}\r\n" in message.get_body(("plain",)).get_content()

    message, raw = by_recipient["nono@x.id"]
    source = raw.decode("ascii")
    assert "Content-Transfer-Encoding: quoted-printable" in source and "base64" not in source
    assert "Dear =C3=91o=C3=B1o =C5=81ukasz," in source
    assert f"Follow its status at {public_url}/v1/track/{accented['data']['tracking_code']}" in source
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n").startswith("Dear Ñoño Łukasz,\n")
    assert "Ñoño Łukasz" in message.get_body(("html",)).get_content()
