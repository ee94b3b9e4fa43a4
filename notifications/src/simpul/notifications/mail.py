"""Outgoing mail: an SMTP server, or `.eml` files in a mailbox folder when none is configured.

Senders classify every failure as one of three kinds, which the email dispatcher acts on:
the server is unavailable (retry the whole channel later), it deferred this message (retry the
message later) or rejected it for good (fail the message).
"""

from __future__ import annotations

import asyncio
import os
import quopri
import socket
import ssl
import time
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib

from simpul.notifications.settings import NotificationsSettings
from simpul.shared.storage import private_dirs


class MailUnavailable(Exception):
    """The server could not be reached or refuses service; nothing about this message."""


class MailDeferred(Exception):
    """The server refused this message for now (4xx)."""


class MailRejected(Exception):
    """The server refused this message for good (5xx)."""


class Mailer(Protocol):
    """Sends in two steps: `prepare` gets the envelope (sender, recipient) accepted, `send` hands
    over the message; once `send` has begun, the message may have arrived whatever happens next.
    The dispatcher takes that second step one message at a time (see dispatch.py)."""

    # The delivery status once `send` returns: `sent` (handed to a server) or `delivered`.
    success_status: str

    async def prepare(self, message: OutgoingMail) -> None: ...

    async def send(self, delivery_id: str, message: OutgoingMail) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class OutgoingMail:
    sender: str  # the envelope sender (MAIL FROM)
    recipient: str
    data: bytes  # the whole RFC 5322 message


def _encoded_header(value: str) -> str:
    """RFC 2047 encoding (and folding) when a header holds anything beyond printable ASCII."""
    if value.isascii() and value.isprintable() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode()


def _part(content_type: str, body: str) -> str:
    """One part, as a person opening the .eml (or a mail client's source view) can read it:
    plain 7bit when the text is ASCII in lines SMTP carries, quoted-printable otherwise (only
    the other characters are encoded). Never base64, and the message stays ASCII on the wire."""
    if body.isascii() and all(len(line) <= 998 and "\r" not in line for line in body.split("\n")):
        encoding, encoded = "7bit", body
    else:
        encoding, encoded = "quoted-printable", quopri.encodestring(body.encode("utf-8")).decode("ascii")
    if not encoded.endswith("\n"):
        encoded += "\n"
    return f'Content-Type: {content_type}; charset="utf-8"\nContent-Transfer-Encoding: {encoding}\n\n{encoded}'


@lru_cache(maxsize=8)
def _sender(mail_from: str) -> tuple[str, str, str]:
    """The From header, the envelope sender and the domain of Message-IDs, for a `mail_from` setting."""
    name, sender = parseaddr(mail_from)
    return formataddr((name, sender), charset="utf-8"), sender, sender.rpartition("@")[2] or "simpul.localhost"


@lru_cache(maxsize=2)
def _date_header(second: int) -> str:
    """The Date header for a second: formatting it cost more than the rest of a message's headers."""
    return formatdate(second, usegmt=True)


def build_message(*, delivery_id: str, recipient: str, content: dict[str, Any], mail_from: str) -> OutgoingMail:
    """The message for one delivery, multipart/alternative (text and HTML). Its Message-ID
    derives from the delivery id, so should a crash make the same delivery go out twice, mail
    clients see one message. Assembled directly: the email package's builder took over a
    millisecond per message, more than everything else on the way."""
    from_header, sender, domain = _sender(mail_from)
    boundary = f"=_simpul_{delivery_id}"
    # The subject was made one line when rendered; the recipient is a validated address.
    headers = [
        f"From: {from_header}",
        f"To: {recipient}",
        f"Subject: {_encoded_header(content['subject'])}",
        f"Date: {_date_header(int(time.time()))}",
        f"Message-ID: <{delivery_id}@{domain}>",
        # RFC 3834: tells auto-responders not to answer.
        "Auto-Submitted: auto-generated",
        f"Content-Language: {content['language']}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    text = (
        "\n".join(headers) + "\n\n"
        f"--{boundary}\n{_part('text/plain', content['text'])}"
        f"--{boundary}\n{_part('text/html', content['html'])}"
        f"--{boundary}--\n"
    )
    # Lines end in CRLF on the wire (RFC 5322), header folds included.
    return OutgoingMail(sender=sender, recipient=recipient, data=text.replace("\n", "\r\n").encode("ascii"))


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return (MailDeferred if 400 <= exc.code < 500 else MailRejected)(f"recipient refused: SMTP {exc.code}")
    if isinstance(exc, (aiosmtplib.SMTPHeloError, aiosmtplib.SMTPAuthenticationError,
                        aiosmtplib.SMTPConnectResponseError)):
        return MailUnavailable(f"{type(exc).__name__}: SMTP {exc.code}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code = exc.code
        if code == 421:
            return MailUnavailable("SMTP 421: service not available")
        return (MailDeferred if 400 <= code < 500 else MailRejected)(f"SMTP {code}: {exc.message[:200]}")
    if isinstance(exc, aiosmtplib.SMTPConnectError) and isinstance(exc.__cause__, OSError):
        # Its own message names the server's host; the cause says what went wrong.
        exc = exc.__cause__
    # Lost connections, refused connections, timeouts, TLS failures.
    return MailUnavailable(f"{type(exc).__name__}: {exc}")


class SmtpMailer:
    """One connection reused across messages (aiosmtplib, on the event loop), reopened when the
    server dropped it and closed when the queue runs dry."""

    success_status = "sent"

    def __init__(self, settings: NotificationsSettings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._user = settings.smtp_user
        self._password = settings.smtp_password
        self._starttls = settings.smtp_starttls
        self._timeout = settings.smtp_timeout_seconds
        self._smtp: aiosmtplib.SMTP | None = None
        # The name given in EHLO, looked up once rather than on every connection.
        self._local_hostname: str | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        # STARTTLS only when configured: never an upgrade the settings did not ask for.
        smtp = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=self._timeout,
                               local_hostname=self._local_hostname, start_tls=False)
        await smtp.connect()
        try:
            await smtp.ehlo()
            if self._starttls:
                await smtp.starttls(tls_context=ssl.create_default_context())
                await smtp.ehlo()
            if self._user:
                await smtp.login(self._user, self._password.get_secret_value() if self._password else "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    async def prepare(self, message: OutgoingMail) -> None:
        try:
            reused = self._smtp is not None
            if self._smtp is None:
                self._smtp = await self._connect()
            try:
                await self._envelope(self._smtp, message)
            except aiosmtplib.SMTPServerDisconnected:
                # A kept connection the server closed while idle: one fresh try.
                await self._drop()
                if not reused:
                    raise
                self._smtp = await self._connect()
                await self._envelope(self._smtp, message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._after_failure(exc)
            raise _classify(exc) from exc

    @staticmethod
    async def _envelope(smtp: aiosmtplib.SMTP, message: OutgoingMail) -> None:
        """MAIL FROM and RCPT TO; each raises on a refusal."""
        await smtp.mail(message.sender)
        await smtp.rcpt(message.recipient)

    async def send(self, delivery_id: str, message: OutgoingMail) -> None:
        try:
            if self._smtp is None:
                raise aiosmtplib.SMTPServerDisconnected("no connection")
            await self._smtp.data(message.data)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._after_failure(exc)
            raise _classify(exc) from exc

    async def _after_failure(self, exc: Exception) -> None:
        """After a refusal the connection serves on once the transaction is reset; after anything
        else it is dropped."""
        refusal = (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError)
        if isinstance(exc, refusal) and self._smtp is not None and self._smtp.is_connected:
            try:
                await self._smtp.rset()
                return
            except (aiosmtplib.SMTPException, OSError):
                pass
        await self._drop()

    async def close(self) -> None:
        await self._drop()


class MailboxMailer:
    """Database `<delivery id>.eml` under data_dir/mailbox: written whole (rename) and named by
    the delivery, so a retry overwrites rather than duplicates."""

    success_status = "delivered"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, delivery_id: str, data: bytes) -> None:
        # Mail names people: readable by this user alone whatever the umask the process runs under
        # (the served process sets 077 anyway; an embedding one may not).
        private_dirs(self.directory)
        final = self.directory / f"{delivery_id}.eml"
        partial = self.directory / f".{delivery_id}.eml.tmp"
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, final)

    async def prepare(self, message: OutgoingMail) -> None:
        return None

    async def send(self, delivery_id: str, message: OutgoingMail) -> None:
        try:
            await asyncio.to_thread(self._write, delivery_id, message.data)
        except OSError as exc:
            raise MailUnavailable(f"mailbox not writable: {exc.strerror}") from exc

    async def close(self) -> None:
        return None


def mailer_for(settings: NotificationsSettings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return MailboxMailer(settings.data_dir / "mailbox")
