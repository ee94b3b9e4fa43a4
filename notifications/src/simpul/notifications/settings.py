from __future__ import annotations

from typing import Annotated, ClassVar

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from simpul.shared.settings import BaseServiceSettings


class NotificationsSettings(BaseServiceSettings):
    service_name: ClassVar[str] = "notifications"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_NOTIFICATIONS_DATABASE_URL")
    port: int = Field(default=8004, validation_alias="SIMPUL_NOTIFICATIONS_PORT")

    # Outgoing mail: an SMTP server when smtp_host is set, else .eml files in data_dir/mailbox.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = Field(default=None, repr=False)
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    # Mail goes out over this many connections at once.
    smtp_connections: int = Field(default=4, ge=1, le=32)
    mail_from: str = "Simpul <no-reply@simpul.localhost>"
    # Who is mailed about what needs an operator (a document the signing service refused for
    # good): SIMPUL_OPERATOR_EMAILS, comma-separated. Empty: the unit's inbox and webhooks only.
    operator_emails: Annotated[list[str], NoDecode] = []

    # Mail is retried per message while the server defers it, and the channel backs off while
    # the server is unreachable; a message is failed once this window has passed.
    email_retry_base_seconds: float = 2.0
    email_retry_max_delay_seconds: float = 60.0
    email_retry_window_seconds: float = 3 * 24 * 3600

    # Webhook URLs on loopback or private addresses are refused unless this is set.
    webhook_allow_loopback: bool = False
    webhook_timeout_seconds: float = 10.0
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_delay_seconds: float = 3600.0
    webhook_retry_window_seconds: float = 24 * 3600
    # How long the previous secret still signs deliveries after a rotation (by default).
    webhook_secret_grace_seconds: int = 24 * 3600
    webhook_concurrency: int = 16
    # SIMPUL_WEBHOOK_MAX_PER_TENANT: live subscriptions a region or unit may hold (409 beyond).
    webhook_max_per_tenant: int = Field(default=20, ge=1)

    # A dispatcher owns the deliveries it picked for this long; after a crash they are due again.
    delivery_lease_seconds: float = 60.0
    # How often the dispatchers look for due work when nothing woke them.
    dispatch_poll_seconds: float = 1.0

    @field_validator("operator_emails", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        addresses = []
        for address in filter(None, (part.strip() for part in value.split(","))):
            try:
                addresses.append(validate_email(address, check_deliverability=False,
                                                allow_smtputf8=False).normalized.lower())
            except EmailNotValidError as exc:
                raise ValueError(f"not a mail address: {address!r} ({exc})") from exc
        return addresses
