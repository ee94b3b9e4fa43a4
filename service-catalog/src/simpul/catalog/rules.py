"""The catalogue's rules, pure: no database, no HTTP.

- A new service is a draft, version 1. Revising a draft replaces it in place (same version).
- Publishing makes the draft the current published version.
- Revising a published service creates version N+1, published at once; version N is marked
  retired with `superseded_by` N+1 and stays readable, so a submission made under N can still
  show the standard it was made under. Sending the current content again changes nothing
  (PUT is idempotent).
- Retiring a published service is final: it stays readable with status retired, but is
  neither revised nor published again.
- Only admins see drafts; to everyone else a draft-only service does not exist (404).
- A standard is valid when pydantic accepts it field by field and `definition_errors` finds
  nothing: unique requirement codes and content types, steps in order, a bounded,
  self-contained JSON Schema 2020-12 of an object as its form.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text

from simpul.catalog.documents import VersionState
from simpul.catalog.schemas import ServiceFields, ServiceRevision
from simpul.catalog.schemas import ServiceStatus as Status

ADMIN_ROLE = "admin"

# Bounds on a form schema: it is compiled by the submissions service for every version, and a
# deeply nested one would exhaust recursion there and here.
MAX_FORM_SCHEMA_BYTES = 64_000
MAX_FORM_SCHEMA_DEPTH = 32
DRAFT_2020_12 = {
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2020-12/schema#",
}
# What Draft202012Validator.check_schema does, but reporting every error rather than the first.
_META_VALIDATOR = Draft202012Validator(
    Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)

# -- messages ---------------------------------------------------------------------------------------

WRONG_STATE = Text(
    "Layanan '{code}' berstatus {state}; tindakan '{action}' tidak dapat dilakukan.",
    "Service '{code}' is {state}; '{action}' is not possible.",
)
INVALID = Text("Standar layanan tidak valid.", "The service standard is not valid.")
CODE_MISMATCH = Text("harus sama dengan kode di alamat ({code})", "must equal the code in the path ({code})")
DUPLICATE_REQUIREMENT = Text("kode persyaratan '{code}' dipakai lebih dari sekali", "requirement code '{code}' is used more than once")
DUPLICATE_TYPE = Text("jenis berkas '{value}' disebut lebih dari sekali", "content type '{value}' is listed more than once")
STEP_ROLE_MISSING = Text(
    "wajib diisi: langkah lain prosedur ini memiliki peran", "is required: other steps of this procedure have a role"
)
STEP_DAYS_MISSING = Text(
    "wajib diisi untuk langkah yang memiliki peran", "is required for a step with a role"
)
LAST_STEP_SIGNER = Text(
    "langkah terakhir harus berperan 'signer' (pejabat yang menandatangani keputusan)",
    "the last step must have the role 'signer' (the official who signs the decision)",
)
STEP_DAYS_OVER_SLA = Text(
    "jumlah working_days langkah-langkah ({total}) melebihi sla_working_days ({sla})",
    "the steps' working_days add up to {total}, more than sla_working_days ({sla})",
)
STEP_ORDER = Text("langkah harus bernomor urut 1, 2, 3, ...; di sini {expected}", "steps must be numbered 1, 2, 3, ...; here {expected}")
SCHEMA_TOO_LARGE = Text(
    "JSON Schema terlalu besar (paling banyak {limit} bita)", "the JSON Schema is too large (at most {limit} bytes)"
)
SCHEMA_TOO_DEEP = Text(
    "JSON Schema bersarang terlalu dalam (paling dalam {limit})", "the JSON Schema nests too deeply (at most {limit})"
)
SCHEMA_DIALECT = Text("hanya JSON Schema 2020-12 yang didukung", "only JSON Schema 2020-12 is supported")
SCHEMA_INVALID = Text("bukan JSON Schema 2020-12 yang sah: {reason}", "is not valid JSON Schema 2020-12: {reason}")
SCHEMA_NOT_OBJECT = Text(
    "form_schema harus menggambarkan objek (\"type\": \"object\")",
    "form_schema must describe an object (\"type\": \"object\")",
)
SCHEMA_BAD_NUMBER = Text(
    "angka ini tidak dapat disimpan (di luar jangkauan 64 bit atau bukan bilangan terhingga)",
    "this number cannot be stored (outside the 64-bit range or not finite)",
)
SCHEMA_NUL = Text("teks tidak boleh memuat karakter NUL", "text must not contain the NUL character")
SCHEMA_REMOTE_REF = Text(
    "hanya rujukan di dalam skema ini (#...) yang diizinkan", "only references within this schema (#...) are allowed"
)
STATUS_FILTER = Text(
    "Hanya admin yang dapat melihat layanan berstatus {state}.", "Only admins can list services that are {state}."
)
LOGIN_FOR_STATUS = Text("Diperlukan token akses admin.", "An admin access token is required.")


# -- field errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    field: str
    message: Text
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, language: str) -> dict[str, str]:
        return {"field": self.field, "message": self.message.render(language, **self.params)}


def invalid(errors: Iterable[FieldError], language: str) -> Problem:
    return Problem(422, INVALID, errors=[error.render(language) for error in errors])


# -- a service's life -------------------------------------------------------------------------------

# action -> (the state it starts from, the state it leads to)
TRANSITIONS: dict[str, tuple[Status, Status]] = {
    "publish": (Status.DRAFT, Status.PUBLISHED),
    "retire": (Status.PUBLISHED, Status.RETIRED),
}


def wrong_state(code: str, state: str, action: str) -> Problem:
    return Problem(
        409, WRONG_STATE, slug="invalid-service-state", params={"code": code, "state": state, "action": action},
        state=state,
    )


def transition(code: str, state: str, action: str) -> Status:
    """The state `action` leads to from `state`; 409 naming the state when it is not allowed."""
    source, target = TRANSITIONS[action]
    if state != source:
        raise wrong_state(code, state, action)
    return target


def revision_makes_new_version(code: str, state: str) -> bool:
    """A draft is replaced in place; a published service gets a new version; a retired one, 409."""
    if state == Status.RETIRED:
        raise wrong_state(code, state, "revise")
    return state == Status.PUBLISHED


def first_version(now: datetime, *, published: bool) -> VersionState:
    """Version 1 of a new service: a draft, or published at once (the demo catalogue)."""
    status = Status.PUBLISHED if published else Status.DRAFT
    return VersionState(1, status, now, now, published_at=now if published else None)


def entered(state: VersionState, target: Status, now: datetime) -> VersionState:
    """A version published or retired at `now`."""
    if target == Status.PUBLISHED:
        return replace(state, status=target, updated_at=now, published_at=now)
    return replace(state, status=target, updated_at=now, retired_at=now)


def revised_in_place(state: VersionState, now: datetime) -> VersionState:
    return replace(state, updated_at=now)


def superseded(state: VersionState, now: datetime) -> tuple[VersionState, VersionState]:
    """A published version revised at `now`, and its successor, published at once."""
    successor = state.version + 1
    retired = replace(state, status=Status.RETIRED, updated_at=now, retired_at=now, superseded_by=successor)
    return retired, VersionState(successor, Status.PUBLISHED, now, now, published_at=now)


# -- who sees what -----------------------------------------------------------------------------------


def sees_drafts(identity: Identity) -> bool:
    return identity.role == ADMIN_ROLE


def check_status_filter(identity: Identity, status: Status | None) -> None:
    """Anyone may list published services; listing by another status is for admins."""
    if status is None or status == Status.PUBLISHED or sees_drafts(identity):
        return
    if identity.is_anonymous:
        raise Problem(401, LOGIN_FOR_STATUS, headers={"WWW-Authenticate": "Bearer"})
    raise Problem(403, STATUS_FILTER, params={"state": str(status)})


# -- what a valid standard is ------------------------------------------------------------------------


def definition_errors(fields: ServiceFields) -> list[FieldError]:
    """What pydantic cannot check field by field: uniqueness, step order, the form schema."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, requirement in enumerate(fields.requirements):
        if requirement.code in seen:
            errors.append(FieldError(f"requirements.{index}.code", DUPLICATE_REQUIREMENT, {"code": requirement.code}))
        seen.add(requirement.code)
        types: set[str] = set()
        for position, content_type in enumerate(requirement.content_types):
            if content_type in types:
                errors.append(
                    FieldError(f"requirements.{index}.content_types.{position}", DUPLICATE_TYPE, {"value": content_type})
                )
            types.add(content_type)
    for index, step in enumerate(fields.procedure):
        if step.step != index + 1:
            errors.append(FieldError(f"procedure.{index}.step", STEP_ORDER, {"expected": index + 1}))
    errors.extend(procedure_role_errors(fields))
    errors.extend(form_schema_errors(fields.form_schema))
    return errors


def procedure_role_errors(fields: ServiceFields) -> list[FieldError]:
    """A procedure with roles is the submission's workflow: every step has a role and its working
    days, the decision is the last step's, by a signer, and the steps fit in the SLA. Without any
    role or working days the procedure only describes the service (the single review step)."""
    steps = fields.procedure
    if not any(step.role is not None or step.working_days is not None for step in steps):
        return []
    errors: list[FieldError] = []
    for index, step in enumerate(steps):
        if step.role is None:
            errors.append(FieldError(f"procedure.{index}.role", STEP_ROLE_MISSING))
        if step.working_days is None:
            errors.append(FieldError(f"procedure.{index}.working_days", STEP_DAYS_MISSING))
    last = len(steps) - 1
    if steps[last].role is not None and steps[last].role != "signer":
        errors.append(FieldError(f"procedure.{last}.role", LAST_STEP_SIGNER))
    total = sum(step.working_days or 0 for step in steps)
    if total > fields.sla_working_days:
        errors.append(FieldError("procedure", STEP_DAYS_OVER_SLA, {"total": total, "sla": fields.sla_working_days}))
    return errors


def revision_errors(code: str, body: ServiceRevision) -> list[FieldError]:
    """A revision is a definition whose code, when it names one, is the code in the path."""
    errors = definition_errors(body)
    if body.code is not None and body.code != code:
        errors.insert(0, FieldError("code", CODE_MISMATCH, {"code": code}))
    return errors


def form_schema_errors(schema: dict[str, Any]) -> list[FieldError]:
    """A form schema must be a valid 2020-12 JSON Schema of an object, self-contained, bounded."""
    walked = _walk(schema)
    if walked.depth > MAX_FORM_SCHEMA_DEPTH:
        return [FieldError("form_schema", SCHEMA_TOO_DEEP, {"limit": MAX_FORM_SCHEMA_DEPTH})]
    if walked.unstorable:
        return walked.unstorable
    if len(orjson.dumps(schema)) > MAX_FORM_SCHEMA_BYTES:
        return [FieldError("form_schema", SCHEMA_TOO_LARGE, {"limit": MAX_FORM_SCHEMA_BYTES})]
    declared = schema.get("$schema")
    if declared is not None and declared not in DRAFT_2020_12:
        return [FieldError("form_schema.$schema", SCHEMA_DIALECT)]
    errors = [
        FieldError(_path("form_schema", error.absolute_path), SCHEMA_INVALID, {"reason": error.message})
        for error in sorted(_META_VALIDATOR.iter_errors(schema), key=lambda e: [str(p) for p in e.absolute_path])
    ]
    if schema.get("type") != "object":
        errors.append(FieldError("form_schema.type", SCHEMA_NOT_OBJECT))
    # Remote references would make every validator of submissions fetch URLs (or fail on them).
    errors.extend(FieldError(location, SCHEMA_REMOTE_REF) for location in walked.remote_refs)
    return errors


@dataclass
class _Walked:
    depth: int = 0
    remote_refs: list[str] = field(default_factory=list)
    # Values JSON parsing lets through but that can't be stored faithfully: NaN, huge integers, NUL.
    unstorable: list[FieldError] = field(default_factory=list)


def _walk(schema: dict[str, Any]) -> _Walked:
    """One pass over the schema without recursion (its depth is what is being checked)."""
    walked = _Walked()
    stack: list[tuple[Any, str, int]] = [(schema, "form_schema", 1)]
    while stack:
        node, path, depth = stack.pop()
        walked.depth = max(walked.depth, depth)
        if depth > MAX_FORM_SCHEMA_DEPTH:
            break
        if isinstance(node, dict):
            children = [(f"{path}.{key}", key, value) for key, value in node.items()]
        elif isinstance(node, list):
            children = [(f"{path}.{index}", "", value) for index, value in enumerate(node)]
        else:
            if (isinstance(node, float) and not math.isfinite(node)) or (
                isinstance(node, int) and not -(2**63) <= node < 2**64
            ):
                walked.unstorable.append(FieldError(path, SCHEMA_BAD_NUMBER))
            elif isinstance(node, str) and "\x00" in node:
                walked.unstorable.append(FieldError(path, SCHEMA_NUL))
            continue
        for child_path, key, value in children:
            if "\x00" in key:
                walked.unstorable.append(FieldError(child_path, SCHEMA_NUL))
            elif key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                walked.remote_refs.append(child_path)
            else:
                stack.append((value, child_path, depth + 1))
    walked.remote_refs.sort()
    walked.unstorable.sort(key=lambda error: error.field)
    return walked


def _path(prefix: str, parts: Iterable[Any]) -> str:
    return ".".join([prefix, *(str(part) for part in parts)])
