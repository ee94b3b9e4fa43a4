"""Wire format of the gateway's own endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from simpul.gateway.clients import REGION_CODE, UNIT_CODE, ClientEvent, ClientRecord
from simpul.shared.text import SingleLineText

Role = Literal["applicant", "officer", "admin"]


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: SingleLineText = Field(min_length=1, max_length=200, description="Who the client is, for people reading lists")
    role: Role
    tenant: SingleLineText | None = Field(
        default=None,
        max_length=64,
        description="applicant: a region code (`31`, `16.71`, `32.73.01`); officer: the unit code that "
        "owns services (`KDN-BH`); admin: absent",
        # Documented, not enforced here: the rule depends on the role, checked with a message that says so.
        json_schema_extra={"pattern": rf"{REGION_CODE.pattern}|{UNIT_CODE.pattern}"},
    )


class Client(BaseModel):
    client_id: str
    name: str
    role: Role
    tenant: str | None
    status: Literal["active", "revoked"]
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, record: ClientRecord) -> Client:
        return cls(
            client_id=record.client_id,
            name=record.name,
            role=record.role,
            tenant=record.tenant,
            status="active" if record.active else "revoked",
            created_at=record.created_at,
            created_by=record.created_by,
            revoked_at=record.revoked_at,
            revoked_by=record.revoked_by,
        )


class CreatedClient(Client):
    client_secret: str = Field(description="Shown this once; only a hash is kept")


class ClientPage(BaseModel):
    items: list[Client]
    next_cursor: str | None


class ClientHistoryEntry(BaseModel):
    at: datetime
    action: Literal["created", "revoked", "secret_rotated"]
    actor: str
    request_id: str | None

    @classmethod
    def of(cls, event: ClientEvent) -> ClientHistoryEntry:
        return cls(at=event.at, action=event.action, actor=event.actor, request_id=event.request_id)


class ClientHistoryPage(BaseModel):
    items: list[ClientHistoryEntry]
    next_cursor: str | None


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until the token expires")


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    y: str
    kid: str
    use: str
    alg: str


class Jwks(BaseModel):
    keys: list[Jwk]


class DataSubjectExport(BaseModel):
    """Everything held about one applicant email (UU 27/2022); empty lists for an unknown one."""

    email: str = Field(description="The email as looked up (lowercased)")
    submissions: list[dict[str, Any]] = Field(
        description="Each with applicant, form data, history and documents' metadata; `personal_data_erased_at` "
        "once the retention period ended")
    complaints: list[dict[str, Any]] = Field(description="About those submissions or filed with this email, "
                                             "with history and attachments' metadata")
    surveys: list[dict[str, Any]]
    issued_documents: list[dict[str, Any]] = Field(description="The signed output documents of those submissions")
    notifications: list[dict[str, Any]] = Field(description="Inbox entries of the events about this person")
    deliveries: list[dict[str, Any]] = Field(description="Mails sent to this address (with their content) and "
                                             "webhook deliveries of the same events")
    reads: list[dict[str, Any]] = Field(description="Who (client, role, unit, official) read which of this data, "
                                        "when, with the request id; this export included")
