"""Settings common to every Simpul process, read from `SIMPUL_*` environment variables."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from simpul.shared.balance import parse_replica_urls


class BaseServiceSettings(BaseSettings):
    """What every service needs. Subclasses name the service and its own database variable."""

    model_config = SettingsConfigDict(env_prefix="SIMPUL_", extra="ignore", populate_by_name=True)

    service_name: ClassVar[str] = "service"

    data_dir: Path = Path("./var")
    host: str = "127.0.0.1"
    log_level: str = "info"
    # SIMPUL_LOG_FORMAT: `text` (readable under `make run`) or `json` (one object per line, for a
    # log collector). The access and security logs are JSON lines either way.
    log_format: Literal["text", "json"] = "text"
    # SIMPUL_ACCESS_LOG=0 turns the `simpul.access` line per request off.
    access_log: bool = True

    # Where the services find each other (internal addresses, never shown to clients); each may
    # list several replicas, comma-separated (`replica_urls`).
    gateway_url: str = "http://127.0.0.1:8000"
    catalog_url: str = "http://127.0.0.1:8001"
    submissions_url: str = "http://127.0.0.1:8002"
    signatures_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"

    # Public base URL of the gateway, used in links handed to people (verify URLs, docs).
    public_url: str = "http://127.0.0.1:8000"

    # The gateway's public keys that verify identity assertions. Inline JWKS JSON wins over the
    # URL; without either the keys are fetched from the gateway's own JWKS endpoint.
    identity_jwks: str | None = None
    identity_jwks_url: str | None = None

    # Shared secret for service-to-service calls; a random one is kept under data_dir when unset.
    internal_secret: str | None = Field(default=None, repr=False)

    # Wraps the data keys of the private keys kept in the database (simpul.shared.envelope):
    # base64url of 32 random bytes; during a rotation "new,old". Or a file holding them, one a
    # line; unset both, a key generated once under data_dir/secrets, which replicas share only
    # through a shared data_dir (set one of these two for replicas on several machines).
    key_encryption_key: str | None = Field(default=None, repr=False)
    key_encryption_key_file: Path | None = None

    # Where the outbox relay publishes events: `amqp://...` for RabbitMQ; unset, events are pushed
    # over HTTP to the notifications service (the embedded default).
    event_broker: str | None = Field(default=None, repr=False)

    # Whether a starting process brings its database to the newest schema itself. Replicas of a
    # deployment turn it off and run `python -m simpul.<service> migrate` once (a Job); a process
    # then starts only when its database is already at the newest schema.
    migrate_on_start: bool = True

    # Default language of human-readable messages when the client sends no Accept-Language.
    default_language: str = "id"

    # How often the audit log's head is timestamped by the signatures service's TSA (when it
    # has rows not yet covered).
    audit_stamp_seconds: float = Field(default=600.0, gt=0)

    # SIMPUL_MAX_JSON_BYTES: the largest request body parsed whole (JSON, forms): 413 above it,
    # at the gateway before a service sees it and again at each service. Uploads have their own.
    max_json_bytes: int = Field(default=1024 * 1024, ge=1024)

    # SIMPUL_MAX_HEADER_BYTES: the largest request line and headers together (431 above it); a
    # browser's or an API client's head is a few kilobytes.
    max_header_bytes: int = Field(default=16 * 1024, ge=4096)


    @field_validator("gateway_url", "catalog_url", "submissions_url", "signatures_url", "notifications_url")
    @classmethod
    def _replica_list(cls, value: str, info: ValidationInfo) -> str:
        parse_replica_urls(f"SIMPUL_{info.field_name.upper()}", value)
        return value

    def replica_urls(self, service: str) -> list[str]:
        """The base URLs of `service`'s replicas (`gateway`, `catalog`, ...)."""
        return parse_replica_urls(f"SIMPUL_{service.upper()}_URL", getattr(self, f"{service}_url"))

    def resolved_database_url(self) -> str:
        url = getattr(self, "database_url", None)
        if url:
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"

    def resolved_jwks_urls(self) -> list[str]:
        """Where the JWKS may be fetched, tried in turn: the explicit URL, else every gateway replica."""
        if self.identity_jwks_url:
            return [self.identity_jwks_url]
        return [f"{url}/.well-known/jwks.json" for url in self.replica_urls("gateway")]

    def default_key_encryption_key_file(self) -> Path:
        # One per service: rotating one service's key must not strand another's data keys.
        return self.data_dir / "secrets" / f"{self.service_name}-key-encryption.key"

    def resolved_internal_secret(self) -> str:
        if self.internal_secret:
            return self.internal_secret
        return read_or_create_secret(self.data_dir / "secrets" / "internal.key")


def read_or_create_secret(path: Path) -> str:
    """Read a random secret from `path`, creating it race-free (O_EXCL) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            value = path.read_text().strip()
            if value:
                return value
            # Another process created the file and is about to write it.
            time.sleep(0.01)
        raise RuntimeError(f"secret file {path} stays empty")
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
