"""The isolation matrix: every operation of the gateway's /openapi.json × every kind of caller
(anonymous, the applicants of regions A and B, the officers of units X and Y, those officers
acting as an official of their unit, an admin) × an object of side A/X and one of side B/Y, against
the five real processes.

What each call must answer follows from the operation's declared security (`security:
[{"bearerAuth": [<roles>]}]`; none: public) and one rule table (`expected`): public operations
answer everyone; a role outside the declared ones gets 401 (anonymous) or 403 (any object, so
nothing leaks); an admin reaches every object; an applicant or officer reaches its own side's
objects and gets 404 for the other side's, never 403. A refused call writes nothing (no audit row
in any service, the object read back unchanged), and an allowed one shows none of the other
side's ids.

A new operation is covered without writing a test. Only two tables are by hand: how to obtain an
object for each kind of path parameter (OBJECTS, keyed by the path up to the parameter) and, for
operations that change something, the body to send and the state of the fresh object they act on
(CHANGES). An operation neither table can serve fails the test, naming what to add."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from tests.attacks.world import PDF, Caller, Side, World, keyed, ok
from tests.e2e.test_foundation import service_body
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.e2e

SAFE_METHODS = {"get", "head", "options"}
METHODS = ("get", "put", "post", "delete", "patch")
FIGURES: list[str] = []
# Calls in flight at once: the services serve them side by side, as they would their clients'.
CONCURRENCY = 6


# -- how to obtain an object for each path parameter ------------------------------------------------

@dataclass(frozen=True)
class ObjectKind:
    # The object of `side` the caller acts on (some kinds belong to one principal, e.g. webhooks).
    shared: Callable[[World, Side, Caller], str]
    # A new one in a given state, for a call that changes or destroys it; None: never changed.
    fresh: Callable[[World, Side, Caller, str], str] | None = None
    # What of the admin's reading must stay the same across refused calls (default: all of it).
    compared: Callable[[str], object] = lambda text: text


def _webhook_owner(caller: Caller) -> str:
    return "officer" if caller.role == "officer" else "applicant"


def _export_as_written(text: str) -> object:
    """What a data subject's export says was written about them: less the reads the admin's own
    readings add (the export logs itself; any other read that appears was logged for a refused
    call), and of the inbox entries and deliveries only which there are (their status and attempts
    are the delivery workers' progress, moving on meanwhile)."""
    export = json.loads(text)
    export["reads"] = [read for read in export["reads"] if read["reader"]["client_id"] != ADMIN_CLIENT_ID]
    for progressing in ("notifications", "deliveries"):
        export[progressing] = sorted(item["id"] for item in export[progressing])
    return export


SUBMISSION = "/v1/submissions/{submission_id}"
COMPLAINT = "/v1/complaints/{complaint_id}"
OBJECTS: dict[str, ObjectKind] = {
    "/v1/admin/data-subjects/{email}": ObjectKind(lambda w, s, c: s.applicant_email,
                                                  compared=_export_as_written),
    "/v1/officials/{official_id}": ObjectKind(lambda w, s, c: s.official_id,
                                              lambda w, s, c, state: w.fresh_official(s)),
    "/v1/admin/clients/{client_id}": ObjectKind(lambda w, s, c: s.applicant_client_id,
                                                lambda w, s, c, state: w.fresh_client(s)),
    "/v1/services/{code}": ObjectKind(lambda w, s, c: s.service["code"],
                                      lambda w, s, c, state: w.fresh_service(s, state)["code"]),
    "/v1/services/{code}/versions/{version}": ObjectKind(lambda w, s, c: str(s.service["version"])),
    "/v1/notifications/dead-letters/{dead_letter_id}": ObjectKind(lambda w, s, c: w.dead_letter_id,
                                                                  lambda w, s, c, state: w.fresh_dead_letter()),
    "/v1/notifications/{notification_id}": ObjectKind(lambda w, s, c: s.notification_id),
    "/v1/webhooks/{webhook_id}": ObjectKind(lambda w, s, c: s.webhooks[_webhook_owner(c)],
                                            lambda w, s, c, state: w.fresh_webhook(s, _webhook_owner(c))),
    "/v1/templates/{event_type}": ObjectKind(lambda w, s, c: "submission.submitted"),
    "/v1/templates/{event_type}/{language}": ObjectKind(lambda w, s, c: "id"),
    "/v1/documents/{document_id}": ObjectKind(lambda w, s, c: s.issued_document_id,
                                              lambda w, s, c, state: w.fresh_issued_document(s)),
    "/v1/verify/{document_id}": ObjectKind(lambda w, s, c: s.issued_document_id),
    "/v1/signers/{certificate_id}": ObjectKind(lambda w, s, c: s.signer_certificate_id,
                                               lambda w, s, c, state: w.fresh_signer(s)),
    SUBMISSION: ObjectKind(lambda w, s, c: s.submission["id"], lambda w, s, c, state: w.fresh_submission(s, state)),
    f"{SUBMISSION}/documents/{{document_id}}": ObjectKind(lambda w, s, c: s.uploaded_document_id),
    "/v1/track/{tracking_code}": ObjectKind(lambda w, s, c: s.submission["tracking_code"]),
    COMPLAINT: ObjectKind(lambda w, s, c: s.complaint_id, lambda w, s, c, state: w.fresh_complaint(s)),
    f"{COMPLAINT}/attachments/{{attachment_id}}": ObjectKind(lambda w, s, c: s.attachment_id),
    "/v1/bills/{code}": ObjectKind(lambda w, s, c: s.bill_code),
    "/v1/payments/{payment_id}": ObjectKind(lambda w, s, c: s.payment_id, lambda w, s, c, state: w.fresh_payment(s)),
    # The Open311 facade: its paths end in `.json` after the parameter.
    "/open311/v2/services/{code}": ObjectKind(lambda w, s, c: s.service["code"]),
    "/open311/v2/requests/{tracking_code}": ObjectKind(lambda w, s, c: s.submission["tracking_code"]),
    "/open311/v2/tokens/{submission_id}": ObjectKind(lambda w, s, c: s.submission["id"]),
}


# -- what a changing call sends, and the state of the fresh object it acts on ------------------------

@dataclass(frozen=True)
class Change:
    # httpx keyword arguments (json=, data=, files=) for a call by `caller` about `side`.
    body: Callable[[World, Side, Caller], dict] = lambda w, s, c: {}
    # The state of the fresh object its last path parameter names; None: the call may repeat on
    # the shared one (it writes the same again, or nothing).
    fresh: str | None = "new"
    # Answers besides 2xx that still show an allowed caller got through to the use case, for a call
    # whose success this system can't stage (name why beside it).
    also: tuple[int, ...] = ()


def _multipart_pdf(**fields: str) -> Callable[[World, Side, Caller], dict]:
    return lambda w, s, c: {"data": fields, "files": {"file": ("surat.pdf", PDF, "application/pdf")}}


def _issued_pdf(w: World, s: Side, c: Caller) -> dict:
    content = w.admin.get(f"/v1/documents/{s.issued_document_id}/content").content
    return {"files": {"file": ("dokumen.pdf", content, "application/pdf")}}


def _template(w: World, s: Side, c: Caller) -> dict:
    current = ok(w.admin.get("/v1/templates/submission.submitted/id"))
    return {"json": {key: current[key] for key in ("subject", "text", "html")}}


def _revision(w: World, s: Side, c: Caller) -> dict:
    body = service_body("UNUSED", s.unit)
    del body["code"]
    return {"json": body}


SURVEY = {name: 4 for name in ("requirements", "procedure", "timeliness", "cost", "product", "competence",
                               "behaviour", "complaint_handling", "facilities")}
CHANGES: dict[tuple[str, str], Change] = {
    ("post", "/v1/oauth/token"): Change(lambda w, s, c: {"data": {
        "grant_type": "client_credentials", "client_id": ADMIN_CLIENT_ID, "client_secret": ADMIN_CLIENT_SECRET}}),
    ("post", "/v1/admin/clients"): Change(lambda w, s, c: {"json": {
        "name": "Pemerintah Provinsi Uji", "role": "applicant", "tenant": s.tenant}}),
    ("delete", "/v1/admin/clients/{client_id}"): Change(),
    # Officers register for their own unit (no `unit`); the admin names the side's.
    ("post", "/v1/officials"): Change(lambda w, s, c: {"json": w.official_body(
        w.next_nip(), s.unit if c.role == "admin" else None)}),
    ("patch", "/v1/officials/{official_id}"): Change(lambda w, s, c: {"json": {
        "position": f"Analis Kebijakan {uuid.uuid4().hex[:6]}"}}),
    ("delete", "/v1/officials/{official_id}"): Change(),
    ("post", "/v1/services"): Change(lambda w, s, c: {"json": service_body(
        f"ATK-{uuid.uuid4().hex[:8].upper()}", s.unit)}),
    ("put", "/v1/services/{code}"): Change(_revision, fresh="draft"),
    ("post", "/v1/services/{code}/publish"): Change(fresh="draft"),
    ("post", "/v1/services/{code}/retire"): Change(fresh="published"),
    # A dead letter that replays only exists after a template was broken and mended; the poison
    # event made here stays poison, so the admin gets its 409 (a refusal of the event, not of them).
    ("post", "/v1/notifications/dead-letters/{dead_letter_id}/replay"): Change(also=(409,)),
    ("post", "/v1/webhooks"): Change(lambda w, s, c: {"json": {
        "url": "http://127.0.0.1:9/hook", "events": ["submission.issued"]}}),
    ("delete", "/v1/webhooks/{webhook_id}"): Change(),
    ("post", "/v1/webhooks/{webhook_id}/rotate-secret"): Change(),
    ("put", "/v1/templates/{event_type}/{language}"): Change(_template, fresh=None),
    ("post", "/v1/templates/{event_type}/{language}/preview"): Change(fresh=None),
    ("post", "/v1/documents/{document_id}/revoke"): Change(lambda w, s, c: {"json": {"reason": "Uji pencabutan."}},
                                                           fresh="issued"),
    ("post", "/v1/verify"): Change(_issued_pdf),
    ("post", "/v1/signers/{certificate_id}/revoke"): Change(lambda w, s, c: {"json": {"reason": "superseded"}}),
    ("post", "/v1/submissions"): Change(lambda w, s, c: {"json": {
        "service_code": s.service["code"],
        "applicant": {"name": "Siti Rahma", "email": "siti@example.go.id"}, "data": {"perihal": "Permohonan uji"}}}),
    ("post", f"{SUBMISSION}/documents"): Change(_multipart_pdf(requirement_code="SURAT"), fresh="draft"),
    ("post", f"{SUBMISSION}/submit"): Change(fresh="with_document"),
    ("post", f"{SUBMISSION}/actions"): Change(lambda w, s, c: {"json": {"action": "start_review"}}, fresh="submitted"),
    ("post", f"{SUBMISSION}/cancel"): Change(fresh="draft"),
    ("post", f"{SUBMISSION}/survey"): Change(lambda w, s, c: {"json": SURVEY}, fresh="rejected"),
    ("post", "/v1/complaints"): Change(lambda w, s, c: {"json": {
        "submission_id": s.submission["id"], "category": "timeliness", "text": "Mohon tanggapan."}}),
    ("post", f"{COMPLAINT}/responses"): Change(lambda w, s, c: {"json": {"text": "Tanggapan atas pengaduan."}}),
    ("post", f"{COMPLAINT}/attachments"): Change(_multipart_pdf()),
    # Only an official with the treasurer role records or voids (the unit's plain officer client gets its
    # 403 from the use case); a payment is voided by another treasurer than the one who recorded it, and the
    # world's payments are recorded by the side's official: its void is that 403 too.
    ("post", f"{SUBMISSION}/payments"): Change(lambda w, s, c: {"json": {
        "reference": f"NTPN-{uuid.uuid4().hex[:12]}", "amount": 150000, "paid_at": "2026-01-05T10:00:00+07:00"}},
        fresh="billed", also=(403,)),
    ("post", "/v1/payments/{payment_id}/void"): Change(
        lambda w, s, c: {"json": {"reason": "Uji pembatalan."}}, also=(403,)),
    ("post", "/v1/admin/payment-providers"): Change(lambda w, s, c: {"json": {"name": f"Bank Uji {uuid.uuid4().hex[:8]}"}}),
    # Public, but only a registered provider's Standard Webhooks signature gets past the use case:
    # unsigned, every caller reaches it and gets its 401.
    ("post", "/v1/payments/notifications"): Change(lambda w, s, c: {"json": {
        "bill_code": s.bill_code, "amount": 150000, "paid_at": "2026-01-05T10:00:00+07:00", "reference": "ATK-1"}},
        fresh=None, also=(401,)),
    # The matrix's services require a document, which GeoReport v2 can't carry: an allowed caller
    # reaches the use case and gets its 400 (tests/e2e/test_open311.py creates requests).
    ("post", "/open311/v2/requests.json"): Change(lambda w, s, c: {"data": {
        "service_code": s.service["code"], "email": "siti@example.go.id", "first_name": "Siti",
        "attribute[perihal]": "Permohonan uji"}}, also=(400,)),
}


# -- the operations and what each call must answer ----------------------------------------------------

@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    roles: tuple[str, ...] | None  # None: public
    object_prefixes: tuple[str, ...]  # the OBJECTS key of each path parameter, outermost first

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def changes(self) -> bool:
        return self.method not in SAFE_METHODS


def operations(document: dict) -> tuple[list[Operation], list[str]]:
    """Every operation of the document, and what the tables lack to exercise the others."""
    found, gaps = [], []
    for path, item in document["paths"].items():
        for method in METHODS:
            spec = item.get(method)
            if spec is None:
                continue
            security = spec.get("security", document.get("security", []))
            if not security or {} in security:
                roles = None  # some requirement admits a caller without credentials
            else:
                roles = tuple(sorted({role for requirement in security for scheme, listed in requirement.items()
                                      if scheme == "bearerAuth" for role in listed}))
                if not roles:
                    gaps.append(f"{method.upper()} {path}: its security names no roles ({security}); "
                                "the matrix can't tell who may call it")
                    continue
            prefixes = tuple(path[: match.end()] for match in re.finditer(r"\{[^}]+\}", path))
            missing = [prefix for prefix in prefixes if prefix not in OBJECTS]
            if missing:
                gaps.append(f"{method.upper()} {path}: no way to obtain {missing[0]!r}; add it to OBJECTS")
                continue
            operation = Operation(method, path, roles, prefixes)
            if operation.changes and (method, path) not in CHANGES:
                gaps.append(f"{operation.label}: changes something; add its body and fresh-object state to CHANGES")
                continue
            if (operation.changes and prefixes and CHANGES[(method, path)].fresh is not None
                    and OBJECTS[prefixes[-1]].fresh is None):
                gaps.append(f"{operation.label}: changes {prefixes[-1]!r}, which OBJECTS can't make fresh")
                continue
            found.append(operation)
    return found, gaps


@dataclass(frozen=True)
class Case:
    operation: Operation
    caller: Caller
    side: Side  # whose object, or whose data the body names
    expected: str  # "allowed" (2xx) or "401" / "403" / "404"

    @property
    def label(self) -> str:
        whose = f" on {self.side.name}'s object" if self.operation.object_prefixes else ""
        return f"{self.operation.label} as {self.caller.name}{whose}"


def expected(operation: Operation, caller: Caller, side: Side | None) -> str:
    """The rule table."""
    if operation.roles is None:
        return "allowed"
    if caller.role == "anonymous":
        return "401"
    if caller.role not in operation.roles:
        return "403"
    if caller.role == "admin" or side is None:
        return "allowed"
    return "allowed" if side.name == caller.side else "404"


def cases(world: World, operation: Operation) -> Iterator[Case]:
    for caller in world.callers:
        if operation.object_prefixes:
            for side in world.sides.values():
                yield Case(operation, caller, side, expected(operation, caller, side))
        else:
            # No object named: the side only shapes the body (anonymous and the admin use A's).
            side = world.sides[caller.side or "A"]
            yield Case(operation, caller, side, expected(operation, caller, None))


def call(world: World, case: Case, fresh: bool) -> httpx.Response:
    operation, caller, side = case.operation, case.caller, case.side
    path = operation.path
    for index, prefix in enumerate(operation.object_prefixes):
        kind = OBJECTS[prefix]
        last = index == len(operation.object_prefixes) - 1
        state = CHANGES[(operation.method, operation.path)].fresh if operation.changes else None
        if fresh and last and state is not None:
            value = kind.fresh(world, side, caller, state)
        else:
            value = kind.shared(world, side, caller)
        path = path.replace(prefix[prefix.rindex("{"):], value, 1)
    arguments = CHANGES[(operation.method, operation.path)].body(world, side, caller) if operation.changes else {}
    headers = keyed() if operation.method == "post" else {}
    return caller.http.request(operation.method.upper(), path, headers=headers, **arguments)


def read_back(world: World, case: Case) -> object:
    """The admin's view of the object a call names (the GET of its path up to the last parameter,
    when the document has one)."""
    if not case.operation.object_prefixes:
        return None
    prefix = case.operation.object_prefixes[-1]
    getter = Case(Operation("get", prefix, ("admin",), case.operation.object_prefixes), world.callers[-1],
                  case.side, "allowed")
    response = call(world, getter, fresh=False)
    return OBJECTS[prefix].compared(response.text) if response.status_code == 200 else None


def objects_seen(world: World, refused: list[Case]) -> dict[tuple[str, str], object]:
    """Every object the refused calls name, as the admin reads it."""
    distinct = {(case.operation.object_prefixes[-1], case.side.name): case
                for case in refused if case.operation.object_prefixes}
    return {key: read_back(world, case) for key, case in distinct.items()}


def objects_settled(world: World, refused: list[Case], timeout: float = 15.0) -> dict[tuple[str, str], object]:
    """The objects once two readings a moment apart agree: events of earlier calls (an inbox
    entry, a delivery) may still be arriving, and must not pass for the refused calls' doing."""
    deadline = time.monotonic() + timeout
    seen = objects_seen(world, refused)
    while True:
        time.sleep(0.5)
        again = objects_seen(world, refused)
        if again == seen or time.monotonic() > deadline:
            return again
        seen = again


def difference(before: object, after: object) -> str:
    """Where two readings differ, briefly (the top-level fields of a JSON object)."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
        return "; ".join(f"{key}: {str(before.get(key))[:400]} -> {str(after.get(key))[:400]}" for key in keys)
    return f"{str(before)[:300]} -> {str(after)[:300]}"


def check_answer(world: World, case: Case, response: httpx.Response) -> str | None:
    status = response.status_code
    if case.expected == "allowed":
        change = CHANGES.get((case.operation.method, case.operation.path))
        if not 200 <= status < 300 and not (change is not None and status in change.also):
            return f"{case.label}: expected 2xx, got {status} {response.text[:200]}"
        if case.caller.side is not None and case.operation.roles is not None:
            other = world.sides["B" if case.caller.side == "A" else "A"]
            leaked = sorted(identifier for identifier in other.private_ids.copy() if identifier in response.text)
            if leaked:
                return f"{case.label}: the answer shows the other side's {leaked}"
        return None
    if str(status) != case.expected:
        return f"{case.label}: expected {case.expected}, got {status} {response.text[:200]}"
    if case.operation.path.startswith("/open311/"):
        # GeoReport v2's error format (gateway/open311.py): [{"code", "description"}].
        if not (response.headers.get("content-type") == "application/json"
                and [error.get("code") for error in response.json()] == [status]):
            return f"{case.label}: a {status} that is not GeoReport's error list"
    elif response.headers.get("content-type") != "application/problem+json":
        return f"{case.label}: a {status} that is not problem+json"
    return None


# -- the test -------------------------------------------------------------------------------------

def test_every_operation_by_every_caller_on_own_and_other_objects(world):
    started = time.monotonic()
    document = ok(world.anonymous.get("/openapi.json"))
    assert "x-simpul-missing" not in document, document["x-simpul-missing"]
    found, gaps = operations(document)
    assert not gaps, "operations the isolation matrix can't exercise:\n" + "\n".join(gaps)
    every = [case for operation in found for case in cases(world, operation)]
    refused = [case for case in every if case.expected != "allowed"]
    allowed = [case for case in every if case.expected == "allowed"]
    failures: list[str] = []

    # Every refusal first, side by side, between two readings of every audit log and object:
    # the allowed calls after them change things.
    objects = objects_settled(world, refused)
    heads = world.audit_heads()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        answers = list(pool.map(lambda case: (case, call(world, case, fresh=False)), refused))
    failures += [failure for case, response in answers if (failure := check_answer(world, case, response))]
    after = world.audit_heads()
    if after != heads:
        failures.append(f"refused calls wrote audit rows: {heads} -> {after}:\n"
                        + "\n".join(world.audit_rows_since(heads)))
    for (prefix, side), seen in objects_seen(world, refused).items():
        if seen != objects[(prefix, side)]:
            failures.append(f"{prefix} of {side}: changed by refused calls: {difference(objects[(prefix, side)], seen)}")

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        answers = list(pool.map(lambda case: (case, call(world, case, fresh=True)), allowed))
    failures += [failure for case, response in answers if (failure := check_answer(world, case, response))]

    elapsed = time.monotonic() - started
    FIGURES.append(f"isolation matrix: {len(found)} operations, {len(every)} calls "
                   f"({len(refused)} refused, {len(allowed)} allowed) in {elapsed:.1f} s")
    print(FIGURES[-1])
    assert len(found) >= 70, [operation.label for operation in found]
    assert not failures, f"{len(failures)} of {len(every)} calls:\n" + "\n".join(failures)
