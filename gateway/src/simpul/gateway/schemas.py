"""Wire format of the gateway's own endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from simpul.gateway.clients import REGION_CODE, UNIT_CODE, ClientEvent, ClientRecord
from simpul.gateway.officials import OfficialEvent, OfficialRecord
from simpul.shared.openapi import page_examples
from simpul.shared.text import SingleLineText

Role = Literal["applicant", "officer", "admin"]

CLIENT_EXAMPLE = {
    "client_id": "c-4f1d2a9b7e3c", "name": "Pemerintah Kota Palembang", "role": "applicant", "tenant": "16.71",
    "status": "active", "created_at": "2026-03-01T02:00:00+00:00", "created_by": "simpul-admin",
    "revoked_at": None, "revoked_by": None,
}
OFFICIAL_EXAMPLE = {
    "id": "5b0e7c1a-2d3f-4a5b-8c9d-0e1f2a3b4c5d", "unit": "KDN-BAKD", "nip": "198503142010011002",
    "name": "Dr. Siti Aminah, M.Si.", "position": "Direktur Fasilitasi Dana Perimbangan dan Pinjaman Daerah",
    "roles": ["reviewer", "signer"], "email": "siti.aminah@kemendagri.go.id", "active": True, "version": 1,
    "created_at": "2026-03-01T02:00:00+00:00", "created_by": "c-9a8b7c6d5e4f",
    "updated_at": "2026-03-01T02:00:00+00:00", "deactivated_at": None, "deactivated_by": None,
}


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"name": "Pemerintah Kota Palembang", "role": "applicant", "tenant": "16.71"},
    ]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [CLIENT_EXAMPLE]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**CLIENT_EXAMPLE, "client_secret": "vQm3H0s9c2YpZ7f1kX4tR8wL6nB5dJ0a"},
    ]})

    client_secret: str = Field(description="Shown this once; only a hash is kept")


class ClientPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(Client))

    items: list[Client]
    next_cursor: str | None


class ClientHistoryEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"at": "2026-03-01T02:00:00+00:00", "action": "created", "actor": "simpul-admin",
         "request_id": "0f9c2a3e6b7d4e21"},
    ]})

    at: datetime
    action: Literal["created", "revoked", "secret_rotated"]
    actor: str
    request_id: str | None

    @classmethod
    def of(cls, event: ClientEvent) -> ClientHistoryEntry:
        return cls(at=event.at, action=event.action, actor=event.actor, request_id=event.request_id)


class ClientHistoryPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(ClientHistoryEntry))

    items: list[ClientHistoryEntry]
    next_cursor: str | None


class TokenResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJjLTRmMWQyYTliN2UzYyJ9.c2lnbmF0dXJl",
         "token_type": "Bearer", "expires_in": 900},
    ]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{"keys": [
        {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "k1", "use": "sig", "alg": "ES256"},
    ]}]})

    keys: list[Jwk]


OfficialRole = Literal["verifier", "reviewer", "signer", "treasurer"]
NIP_FIELD = Field(
    min_length=18, max_length=18,
    description="NIP, 18 digits: date of birth YYYYMMDD, month of appointment YYYYMM, sex 1|2, sequence",
    examples=["198503142010011002"],
)


class OfficialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"nip": "198503142010011002", "name": "Dr. Siti Aminah, M.Si.",
         "position": "Direktur Fasilitasi Dana Perimbangan dan Pinjaman Daerah", "roles": ["reviewer", "signer"],
         "email": "siti.aminah@kemendagri.go.id"},
    ]})

    # Checked digit by digit (dates, sex) by the registry, which names what is wrong.
    nip: SingleLineText = NIP_FIELD
    name: SingleLineText = Field(min_length=1, max_length=200, description="Full name with titles, as signed")
    position: SingleLineText = Field(min_length=1, max_length=200, description="Position (jabatan)")
    roles: list[OfficialRole] = Field(min_length=1, max_length=4, description="What the official may do in a procedure")
    email: EmailStr | None = Field(default=None, description="Where dispositions are mailed")
    unit: SingleLineText | None = Field(default=None, max_length=64,
                                        description="Admins: the unit; officers: their own (may be left out)")


class OfficialChange(BaseModel):
    """Only the fields sent change; `email: null` removes the address."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"position": "Direktur Jenderal Bina Keuangan Daerah", "roles": ["signer"]},
    ]})

    name: SingleLineText | None = Field(default=None, min_length=1, max_length=200)
    position: SingleLineText | None = Field(default=None, min_length=1, max_length=200)
    roles: list[OfficialRole] | None = Field(default=None, min_length=1, max_length=4)
    email: EmailStr | None = None

    @field_validator("name", "position", "roles", mode="before")
    @classmethod
    def _replaced_not_removed(cls, value: object) -> object:
        # Called only for fields sent: these can be replaced, never removed.
        if value is None:
            raise ValueError("must not be null")
        return value

    def changes(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class OfficialView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [OFFICIAL_EXAMPLE]})

    id: str
    unit: str
    nip: str
    name: str
    position: str
    roles: list[OfficialRole]
    email: str | None
    active: bool
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    deactivated_at: datetime | None
    deactivated_by: str | None

    @classmethod
    def of(cls, record: OfficialRecord) -> OfficialView:
        return cls(
            id=record.id, unit=record.unit, nip=record.nip, name=record.name, position=record.position,
            roles=list(record.roles), email=record.email, active=record.active, version=record.version,
            created_at=record.created_at, created_by=record.created_by, updated_at=record.updated_at,
            deactivated_at=record.deactivated_at, deactivated_by=record.deactivated_by,
        )


class OfficialPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(OfficialView))

    items: list[OfficialView]
    next_cursor: str | None


class OfficialHistoryEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"at": "2026-03-04T03:00:00+00:00", "action": "updated", "actor": "c-9a8b7c6d5e4f", "actor_role": "officer",
         "request_id": "5c1d9e0f2a3b4c6d", "changes": {"roles": {"from": ["reviewer"], "to": ["reviewer", "signer"]}}},
    ]})

    at: datetime
    action: Literal["created", "updated", "deactivated"]
    actor: str = Field(description="The client id that made the change")
    actor_role: str
    request_id: str | None
    changes: dict[str, dict[str, object]] = Field(description='{field: {"from", "to"}}')

    @classmethod
    def of(cls, event: OfficialEvent) -> OfficialHistoryEntry:
        return cls(at=event.at, action=event.action, actor=event.actor, actor_role=event.actor_role,
                   request_id=event.request_id, changes=event.changes)


class OfficialHistoryPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(OfficialHistoryEntry))

    items: list[OfficialHistoryEntry]
    next_cursor: str | None


class ActingOfficial(BaseModel):
    id: str
    nip: str
    name: str
    position: str
    roles: list[str]


class Me(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"client_id": "c-9a8b7c6d5e4f", "role": "officer", "tenant": "KDN-BAKD", "name": "Petugas layanan KDN-BAKD",
         "official": {"id": OFFICIAL_EXAMPLE["id"], "nip": OFFICIAL_EXAMPLE["nip"], "name": OFFICIAL_EXAMPLE["name"],
                      "position": OFFICIAL_EXAMPLE["position"], "roles": ["reviewer", "signer"]}},
    ]})

    client_id: str
    role: str
    tenant: str | None
    name: str | None
    official: ActingOfficial | None = Field(description="The official the token acts as, if any")


class DataSubjectExport(BaseModel):
    """Everything held about one applicant email (UU 27/2022); empty lists for an unknown one."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"email": "hukum@palembang.go.id", "submissions": [], "complaints": [], "surveys": [], "issued_documents": [],
         "notifications": [], "deliveries": [],
         "reads": [{"at": "2026-03-05T01:00:00+00:00", "client_id": "simpul-admin", "role": "admin",
                    "request_id": "7a6b5c4d3e2f1a0b"}]},
    ]})

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
