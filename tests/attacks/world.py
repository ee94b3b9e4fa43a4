"""Two sides of a running system for the attack suite: side A (applicant region 31, unit X) and
side B (region 32, unit Y), each with its own published service, an issued submission with its
uploaded document, receipt, signed document, survey, complaint with an attachment, webhooks,
inbox entries, unit signer and a registered official its officer also acts as; and how to make a
fresh object of each kind, for the calls that change or destroy what they act on."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.processes import System

# A minimal PDF: the requirements of the sides' services ask for application/pdf.
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
# Every role a step may ask for: the side's official may do whatever its officer may.
OFFICIAL_ROLES = ["verifier", "reviewer", "signer", "treasurer"]
EVENTS = ["submission.submitted", "submission.status_changed", "submission.issued", "complaint.updated"]


def ok(response: httpx.Response, *statuses: int) -> dict:
    assert response.status_code in (statuses or (200, 201)), f"{response.request.method} {response.request.url}: " \
                                                             f"{response.status_code} {response.text[:300]}"
    return response.json() if response.headers.get("content-type", "").endswith("json") else {}


def keyed() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@dataclass
class Caller:
    name: str
    role: str  # anonymous, applicant, officer, admin
    side: str | None  # the side whose objects are its own; None: anonymous and admin
    http: httpx.Client


@dataclass
class Side:
    name: str
    tenant: str
    unit: str
    applicant: httpx.Client
    officer: httpx.Client
    applicant_client_id: str
    # The unit's officer client acting as the side's official (a token asked with official=<NIP>).
    acting_official: httpx.Client | None = None
    official_id: str = ""
    service: dict = field(default_factory=dict)
    submission: dict = field(default_factory=dict)  # issued, surveyed
    uploaded_document_id: str = ""
    issued_document_id: str = ""
    complaint_id: str = ""
    attachment_id: str = ""
    webhooks: dict[str, str] = field(default_factory=dict)  # owner role -> webhook id
    notification_id: str = ""
    signer_certificate_id: str = ""
    # A service whose fee is paid before review, a submitted submission of it: its bill (the public
    # GET /v1/bills/{code}) and a payment the side's treasurer recorded for it.
    paying_service: dict = field(default_factory=dict)
    bill_code: str = ""
    payment_id: str = ""
    # Every id of this side's private objects: none may show in the other side's answers.
    private_ids: set[str] = field(default_factory=set)

    @property
    def applicant_email(self) -> str:
        """The e-mail address the side's submissions give for their applicant: a data subject."""
        return f"siti.{self.tenant}@example.go.id"


class World:
    def __init__(self, system: System, api: PublicApi, admin: httpx.Client) -> None:
        self.system = system
        self.api = api
        self.admin = admin
        self.anonymous = httpx.Client(base_url=system.gateway_url, timeout=30.0)
        tag = uuid.uuid4().hex[:6].upper()
        self._nip_numbers = itertools.count(1)
        self.sides = {"A": self._side("A", "31", f"UNIT-X-{tag}"), "B": self._side("B", "32", f"UNIT-Y-{tag}")}
        self.callers = [
            Caller("anonymous", "anonymous", None, self.anonymous),
            Caller("applicant of A", "applicant", "A", self.sides["A"].applicant),
            Caller("applicant of B", "applicant", "B", self.sides["B"].applicant),
            Caller("officer of X", "officer", "A", self.sides["A"].officer),
            Caller("officer of Y", "officer", "B", self.sides["B"].officer),
            # Officers still: an official's token reaches what its unit's officer client reaches.
            Caller("official of X", "officer", "A", self.sides["A"].acting_official),
            Caller("official of Y", "officer", "B", self.sides["B"].acting_official),
            # Last: the matrix reads objects back as the last caller.
            Caller("admin", "admin", None, admin),
        ]
        self.dead_letter_id = self.fresh_dead_letter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(self._populate, self.sides.values()))

    def close(self) -> None:
        self.anonymous.close()
        for side in self.sides.values():
            side.applicant.close()
            side.officer.close()
            side.acting_official.close()

    # -- building the sides ---------------------------------------------------------------------

    def _side(self, name: str, tenant: str, unit: str) -> Side:
        applicant = self.api.create_client(self.admin, "applicant", tenant)
        officer = self.api.create_client(self.admin, "officer", unit)
        side = Side(
            name, tenant, unit,
            applicant=self.api.as_client(applicant["client_id"], applicant["client_secret"]),
            officer=self.api.as_client(officer["client_id"], officer["client_secret"]),
            applicant_client_id=applicant["client_id"],
        )
        # Registered by the unit's own officer, as a unit would.
        nip = self.next_nip()
        official = ok(side.officer.post("/v1/officials", json=self.official_body(nip), headers=keyed()))
        side.official_id = official["id"]
        side.private_ids.add(side.official_id)
        grant = self.api.http.post("/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": officer["client_id"],
            "client_secret": officer["client_secret"], "official": nip})
        side.acting_official = httpx.Client(base_url=self.api.base_url, timeout=30.0,
                                            headers={"Authorization": f"Bearer {ok(grant)['access_token']}"})
        acting_as = ok(side.acting_official.get("/v1/me"))["official"]
        assert acting_as is not None and acting_as["nip"] == nip, acting_as
        return side

    def _populate(self, side: Side) -> None:
        side.service = self.fresh_service(side, "published")
        submission_id = self.fresh_submission(side, "issued")
        side.submission = ok(side.applicant.get(f"/v1/submissions/{submission_id}"))
        (document,) = ok(side.applicant.get(f"/v1/submissions/{submission_id}/documents"))["items"]
        side.uploaded_document_id = document["id"]
        side.issued_document_id = side.submission["issued_documents"][0]["document_id"]
        survey = {name: 3 for name in ("requirements", "procedure", "timeliness", "cost", "product", "competence",
                                       "behaviour", "complaint_handling", "facilities")}
        ok(side.applicant.post(f"/v1/submissions/{submission_id}/survey", json=survey, headers=keyed()))
        side.paying_service = self.fresh_service(side, "published", fee={
            "amount": 150000, "currency": "IDR", "legal_basis": "Perda uji", "payment_stage": "before_review"})
        billed = self.fresh_submission(side, "billed")
        side.bill_code = ok(side.applicant.get(f"/v1/submissions/{billed}"))["bill"]["code"]
        side.payment_id = self.fresh_payment(side, billed)
        # The kuitansi comes a moment later and changes the submission (its bill): before the matrix reads.
        self._eventually(lambda: "payment_receipt" in ok(side.applicant.get(f"/v1/submissions/{billed}"))["bill"]
                         and [True], f"no kuitansi for {billed}")
        side.complaint_id = self.fresh_complaint(side)
        attachment = side.applicant.post(f"/v1/complaints/{side.complaint_id}/attachments",
                                         files={"file": ("bukti.pdf", PDF, "application/pdf")}, headers=keyed())
        side.attachment_id = ok(attachment)["id"]
        for role in ("applicant", "officer"):
            side.webhooks[role] = self.fresh_webhook(side, role)
        side.notification_id = self._eventually(
            lambda: ok(side.applicant.get("/v1/notifications"))["items"], "no inbox entry")[0]["id"]
        signers = ok(self.admin.get("/v1/signers", params={"limit": 200}))["items"]
        side.signer_certificate_id = next(item["id"] for item in signers
                                          if item["unit"] == side.unit and item["status"] != "revoked")
        side.private_ids |= {submission_id, side.uploaded_document_id, side.issued_document_id, side.complaint_id,
                             side.attachment_id, side.notification_id, *side.webhooks.values(),
                             side.submission["tracking_code"]}

    @staticmethod
    def _eventually(read: Callable[[], list], message: str, timeout: float = 30.0) -> list:
        deadline = time.monotonic() + timeout
        while not (found := read()):
            assert time.monotonic() < deadline, message
            time.sleep(0.1)
        return found

    # -- fresh objects --------------------------------------------------------------------------

    def next_nip(self) -> str:
        """A well-formed NIP no other official of this world holds (born 1985, appointed 2010-01,
        the count in the month of birth and the sequence number)."""
        number = next(self._nip_numbers)
        return f"1985{number // 999 % 12 + 1:02d}15" f"2010011{number % 999 + 1:03d}"

    @staticmethod
    def official_body(nip: str, unit: str | None = None) -> dict:
        body = {"nip": nip, "name": "Dra. Sri Wahyuni, M.Si.", "position": "Kepala Seksi Pelayanan",
                "roles": OFFICIAL_ROLES}
        return body if unit is None else {**body, "unit": unit}

    def fresh_official(self, side: Side) -> str:
        body = self.official_body(self.next_nip(), side.unit)
        official_id = ok(self.admin.post("/v1/officials", json=body, headers=keyed()))["id"]
        side.private_ids.add(official_id)
        return official_id

    def fresh_client(self, side: Side) -> str:
        return self.api.create_client(self.admin, "applicant", side.tenant)["client_id"]

    def fresh_service(self, side: Side, state: str, **changes: object) -> dict:
        code = f"ATK-{uuid.uuid4().hex[:8].upper()}"
        body = service_body(code, side.unit) | changes
        created = ok(self.admin.post("/v1/services", json=body, headers=keyed()))
        if state == "published":
            return ok(self.admin.post(f"/v1/services/{code}/publish"))
        return created

    def fresh_submission(self, side: Side, state: str, service_code: str | None = None) -> str:
        """A submission of the side's applicant in `state`: draft, with_document, submitted,
        rejected or issued (past submitted: only for a service without step roles); billed: submitted
        under the side's paying service, its bill unpaid."""
        if state == "billed":
            return self.fresh_submission(side, "submitted", side.paying_service["code"])
        body = {"service_code": service_code or side.service["code"],
                "applicant": {"name": "Siti Rahma", "email": side.applicant_email},
                "data": {"perihal": "Permohonan uji serangan"}}
        submission_id = ok(side.applicant.post("/v1/submissions", json=body, headers=keyed()))["id"]
        side.private_ids.add(submission_id)
        if state == "draft":
            return submission_id
        ok(side.applicant.post(f"/v1/submissions/{submission_id}/documents", data={"requirement_code": "SURAT"},
                               files={"file": ("surat.pdf", PDF, "application/pdf")}, headers=keyed()))
        if state == "with_document":
            return submission_id
        ok(side.applicant.post(f"/v1/submissions/{submission_id}/submit", headers=keyed()))
        if state == "submitted":
            return submission_id
        ok(side.officer.post(f"/v1/submissions/{submission_id}/actions", json={"action": "start_review"},
                             headers=keyed()))
        if state == "rejected":
            ok(side.officer.post(f"/v1/submissions/{submission_id}/actions",
                                 json={"action": "reject", "note": "Berkas tidak lengkap."}, headers=keyed()))
            return submission_id
        assert state == "issued", state
        ok(side.officer.post(f"/v1/submissions/{submission_id}/actions", json={"action": "approve"}, headers=keyed()))
        self._eventually(lambda: ok(side.applicant.get(f"/v1/submissions/{submission_id}"))["status"] == "issued"
                         and [True], f"submission {submission_id} never issued")
        return submission_id

    def fresh_issued_document(self, side: Side) -> str:
        submission_id = self.fresh_submission(side, "issued")
        document_id = ok(side.applicant.get(f"/v1/submissions/{submission_id}"))["issued_documents"][0]["document_id"]
        side.private_ids.add(document_id)
        return document_id

    def fresh_signer(self, side: Side) -> str:
        """A signer certificate of a unit of its own (revoking it spoils nobody else's issuing)."""
        unit = f"{side.unit}-{uuid.uuid4().hex[:4].upper()}"
        other = Side(side.name, side.tenant, unit, side.applicant, self.api.client_for(self.admin, "officer", unit),
                     side.applicant_client_id)
        other.service = self.fresh_service(other, "published")
        self.fresh_submission(other, "issued")
        other.officer.close()
        signers = ok(self.admin.get("/v1/signers", params={"limit": 200}))["items"]
        return next(item["id"] for item in signers if item["unit"] == unit)

    def fresh_payment(self, side: Side, submission_id: str | None = None) -> str:
        """A payment recorded by the side's official (a treasurer) on a billed submission."""
        submission_id = submission_id or self.fresh_submission(side, "billed")
        body = {"reference": f"NTPN-{uuid.uuid4().hex[:12]}", "amount": 150000, "paid_at": "2026-01-05T10:00:00+07:00"}
        payment = ok(side.acting_official.post(f"/v1/submissions/{submission_id}/payments", json=body, headers=keyed()))
        side.private_ids.add(payment["id"])
        return payment["id"]

    def fresh_complaint(self, side: Side) -> str:
        body = {"submission_id": side.submission["id"], "category": "timeliness", "text": "Belum ada tanggapan."}
        complaint_id = ok(side.applicant.post("/v1/complaints", json=body, headers=keyed()))["id"]
        side.private_ids.add(complaint_id)
        return complaint_id

    def fresh_webhook(self, side: Side, role: str) -> str:
        owner = side.officer if role == "officer" else side.applicant
        events = EVENTS if role == "officer" else ["submission.submitted", "submission.issued"]
        body = {"url": "http://127.0.0.1:9/hook", "events": events}
        webhook_id = ok(owner.post("/v1/webhooks", json=body, headers=keyed()))["id"]
        side.private_ids.add(webhook_id)
        return webhook_id

    def fresh_dead_letter(self) -> str:
        """An event notifications can't use (no type, no subject): it is dead-lettered."""
        token = mint_service_token(self.system.internal_secret, "submissions", "notifications")
        poison = {"id": uuid.uuid4().hex, "source": "attack-suite", "specversion": "1.0"}
        response = httpx.post(f"{self.system['notifications'].url}/internal/events", json=[poison],
                              headers={ASSERTION_HEADER: token}, timeout=10)
        assert response.status_code == 200, response.text
        letters = ok(self.admin.get("/v1/notifications/dead-letters", params={"limit": 200}))["items"]
        return next(letter["id"] for letter in letters if letter.get("event_id") == poison["id"])

    def audit_rows_since(self, heads: dict[str, int]) -> list[str]:
        """The audit rows added after `heads` (what a refused call wrote), one line each."""
        lines = []
        for service, count in heads.items():
            cursor, seen = None, 0
            while True:
                page = ok(self.admin.get(f"/v1/admin/audit/{service}", params={"limit": 200, "cursor": cursor}
                                         if cursor else {"limit": 200}))
                for row in page["items"]:
                    seen += 1
                    if seen > count:
                        lines.append(f"{service}: {row}")
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        return lines

    def audit_heads(self) -> dict[str, int]:
        """How many rows each service's audit log holds: a refused call must add none."""
        return {service: ok(self.admin.get(f"/v1/admin/audit/{service}/verify"))["checked"]
                for service in ("gateway", "catalog", "submissions", "signatures", "notifications")}

    def quiet_audit_heads(self, quiet_seconds: float = 1.5, within: float = 30.0) -> dict[str, int]:
        """The audit heads once background work earlier tests set off (a kuitansi issued or revoked
        after a payment call, say) has landed: unchanged over `quiet_seconds`."""
        deadline = time.monotonic() + within
        heads = self.audit_heads()
        while time.monotonic() < deadline:
            time.sleep(quiet_seconds)
            again = self.audit_heads()
            if again == heads:
                return heads
            heads = again
        raise AssertionError(f"the audit logs kept growing for {within} s: {heads}")
