"""Issued documents: issuing (exactly once per submission), access, revocation with an audit
trail, public status and the check of uploaded PDFs. Plain Python; api.py only translates HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.events import stage_event
from simpul.shared.identity import ASSERTION_HEADER, Identity, mint_service_token
from simpul.shared.pagination import decode_cursor, encode_cursor
from simpul.shared.problems import Problem, Text
from simpul.shared.storage import BlobStore
from simpul.shared.visibility import Visibility
from simpul.signatures import pki
from simpul.signatures.document import WIB, DocumentContent, Initial, NamedOfficial, flatten_fields
from simpul.signatures.kuitansi import KuitansiContent
from simpul.signatures.keystore import DevelopmentKeystore, NoSigner, ProductionKeystore
from simpul.signatures.models import audit, certificates, document_events, documents, number_sequences, outbox
from simpul.signatures.schemas import IssueRequest
from simpul.signatures.jobs import RemoteCredential, RemoteSigningRefused, SignerMaterial, SignJob, TsaTarget
from simpul.signatures.remote import CredentialUnusable, CscCredentials, RemoteSigningUnavailable
from simpul.signatures.verification import PdfFacts, describe, inspect_pdf, signature_problems
from simpul.signatures.workers import IsolatedFailure, IsolatedTimeout, SigningPool, run_isolated

log = logging.getLogger("simpul.signatures")

EVENT_SOURCE = "simpul/signatures"
# Certificate rows change only on revocation; a revocation made elsewhere shows here within this.
SIGNER_SUMMARY_SECONDS = 30.0
TOKEN_REUSE_SECONDS = 30.0
PENDING, ISSUED, REVOKED = "pending", "issued", "revoked"

NOT_FOUND = Text("Dokumen tidak ditemukan.", "Document not found.")
ALREADY_REVOKED = Text("Dokumen ini sudah dicabut.", "This document is already revoked.")
NO_SIGNER = Text("Belum ada kunci penanda tangan untuk unit {unit}.", "No signing key is configured for unit {unit}.")
SIGNING_FAILED = Text("Dokumen belum dapat ditandatangani; coba lagi nanti.",
                      "The document could not be signed yet; try again later.")
SIGNER_NOT_FOUND = Text("Sertifikat penanda tangan tidak ditemukan.", "Signer certificate not found.")
VERIFY_BUSY = Text("Terlalu banyak pemeriksaan berkas saat ini; coba lagi sebentar lagi.",
                   "Too many files are being checked right now; try again shortly.")
OFFICIAL_REQUIRED = Text("Dokumen ditandatangani oleh pejabat yang memutuskan; pejabat itu belum disebutkan.",
                         "Documents are signed by the deciding official, and none is named.")
REMOTE_SIGNING_REFUSED = Text(
    "Layanan tanda tangan elektronik menolak menandatangani atas nama pejabat NIP {nip}: {reason}.",
    "The remote signing service refused to sign for the official with NIP {nip}: {reason}.",
)
NOT_IN_PRODUCTION = Text("Sertifikat produksi dicabut oleh CA penerbitnya, bukan oleh layanan ini.",
                         "Production certificates are revoked by the CA that issued them, not by this service.")


@dataclass
class Issued:
    document: dict[str, Any]
    created: bool


def can_revoke(identity: Identity, row: Any) -> bool:
    # A service: submissions revoking the kuitansi of a payment a treasurer voided (internal route only).
    return identity.role in ("admin", "service") or (identity.role == "officer" and identity.tenant == row["unit"])


class DocumentService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
        keystore: DevelopmentKeystore | ProductionKeystore,
        remote: CscCredentials | None = None,
        seal_without_official: bool = False,
        remote_trust_roots: tuple[bytes, ...] = (),
        pool: SigningPool,
        store: BlobStore,
        public_url: str,
        internal_secret: str,
        tsa_url: str | None,
        tsa_is_own: bool,
        sign_timeout: float,
        verify_timeout: float,
        verify_memory_bytes: int,
        verify_concurrency: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions
        self.keystore = keystore
        # Set with the csc backend: the deciding official's credential signs instead of the unit.
        self.remote = remote
        self._seal_without_official = seal_without_official
        self._remote_trust_roots = remote_trust_roots
        self.pool = pool
        self.store = store
        self.public_url = public_url.rstrip("/")
        self._internal_secret = internal_secret
        self._tsa_url = tsa_url
        self._tsa_is_own = tsa_is_own
        self._sign_timeout = sign_timeout
        self._verify_timeout = verify_timeout
        self._verify_memory = verify_memory_bytes
        # Each check is a process with up to verify_memory_bytes: bound how many run at once,
        # and how many may wait for a slot before callers are told to come back later.
        self._verify_slots = asyncio.Semaphore(verify_concurrency)
        self._verify_backlog = 4 * verify_concurrency
        self._verify_waiting = 0
        self.clock = clock
        self._signer_summaries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._token: tuple[float, str] | None = None

    def _tsa_token(self) -> str:
        """The service token our own TSA asks for. Tokens live 60 s; one is reused for half of
        that, so the TSA's identity check hits its cache instead of verifying every request."""
        now = time.monotonic()
        if self._token is None or now - self._token[0] > TOKEN_REUSE_SECONDS:
            self._token = (now, mint_service_token(self._internal_secret, "signatures", "signatures"))
        return self._token[1]

    def verify_url(self, document_id: str) -> str:
        return f"{self.public_url}/v1/verify/{document_id}"

    # -- issuing ----------------------------------------------------------------------------------

    async def issue(self, request: IssueRequest, actor: Identity) -> Issued:
        """The signed document of an approved submission, made once: a repeat or concurrent call
        gets the same document back."""
        if self.remote is not None and request.official is None and not self._seal_without_official:
            # Sealing instead would issue a document the unit meant an official to sign.
            raise Problem(422, OFFICIAL_REQUIRED, slug="official-required",
                          errors=[{"field": "official", "message": "required: the csc signing backend signs as the official"}])
        # Reserving first: a new submission (the usual case) costs one transaction; a repeat
        # finds its row through the unique constraint.
        row = await self._reserve(request)
        if row["status"] != PENDING:
            return Issued(await self._present(row), created=False)

        signer = await self._signer_for(request, row, actor)
        issued_at = self.clock()
        content = self._content(request, row, signer.name, issued_at)
        tsa = None
        if self._tsa_url:
            headers: tuple[tuple[str, str], ...] = ()
            if self._tsa_is_own:
                headers = ((ASSERTION_HEADER, self._tsa_token()),)
            tsa = TsaTarget(self._tsa_url, headers)
        # Revocation data is ours to embed only for our own certificates (B-LT); a remote
        # service's CA publishes its own, and those signatures are B-T.
        validation = await self.keystore.validation_material(signer) if tsa and isinstance(signer, SignerMaterial) else None
        job = SignJob(content=content, signer=signer, tsa=tsa, validation=validation)
        try:
            signed = await self.pool.sign(job, self._sign_timeout)
        except RemoteSigningRefused as exc:
            await self._refuse(request, row, actor, str(exc))
        except Exception as exc:  # timed out, a worker died, the TSA refused or was unreachable: retry later
            log.error("signing %s failed: %s: %s", row["id"], type(exc).__name__, exc)
            raise Problem(503, SIGNING_FAILED, slug="signing-failed", headers={"Retry-After": "5"}) from exc

        sha256 = await self.store.put(signed.pdf)
        issued = {"status": ISSUED, "sha256": sha256, "size": len(signed.pdf), "signer_id": signer.id,
                  "pades_level": signed.pades_level, "issued_at": issued_at}
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(documents).where(documents.c.id == row["id"], documents.c.status == PENDING).values(**issued)
            )
            if result.rowcount == 1:
                await self._audit(session, row["id"], "issued", actor, None,
                                  {"sha256": sha256, "pades_level": signed.pades_level, "signer_id": signer.id})
                await stage_event(
                    session, outbox, type="document.issued", source=EVENT_SOURCE, subject=f"documents/{row['id']}",
                    data={
                        "document_id": row["id"],
                        "submission_id": row["submission_id"],
                        "tracking_code": row["tracking_code"],
                        "number": row["number"],
                        "service_code": row["service_code"],
                        "unit": row["unit"],
                        "tenant": row["tenant"],
                        "verify_url": self.verify_url(row["id"]),
                        "sha256": sha256,
                        "issued_at": issued_at.isoformat(),
                    },
                )
        if result.rowcount == 1:
            return Issued(await self._present({**row, **issued}), created=True)
        # A concurrent call for the same submission stored its PDF first; ours is surplus.
        final = await self._by_id(row["id"])
        if final["sha256"] != sha256:
            await self.store.delete(sha256)
        return Issued(await self._present(final), created=False)

    async def _signer_for(self, request: IssueRequest, row: Any, actor: Identity) -> SignerMaterial | RemoteCredential:
        if self.remote is None or request.official is None:
            try:
                return await self.keystore.signer_for(request.unit)
            except NoSigner as exc:
                raise Problem(503, NO_SIGNER, slug="no-signer", params={"unit": request.unit}) from exc
        try:
            return await self.remote.credential_for(request.official.nip, request.unit)
        except (RemoteSigningRefused, CredentialUnusable) as exc:
            await self._refuse(request, row, actor, str(exc))
        except RemoteSigningUnavailable as exc:
            log.error("signing %s: remote signing service unavailable: %s", row["id"], exc)
            raise Problem(503, SIGNING_FAILED, slug="signing-failed", headers={"Retry-After": "5"}) from exc

    async def _refuse(self, request: IssueRequest, row: Any, actor: Identity, reason: str) -> NoReturn:
        """A final refusal of the remote signing service: kept in the document's history (the row
        stays pending, its number reserved) and answered as a 4xx the caller does not retry."""
        nip = request.official.nip if request.official else None
        log.warning("signing %s refused by the remote signing service: %s", row["id"], reason)
        async with self.sessions() as session, session.begin():
            await self._audit(session, row["id"], "signing_refused", actor, None, {"official_nip": nip, "reason": reason})
        raise Problem(422, REMOTE_SIGNING_REFUSED, slug="remote-signing-refused", params={"nip": nip, "reason": reason})

    async def _reserve(self, request: IssueRequest) -> Any:
        """Insert the pending row with its number; on a concurrent insert, return the other one."""
        year = request.approved_at.astimezone(WIB).year
        values = {
            "id": str(uuid.uuid4()),
            "submission_id": request.submission_id,
            "status": PENDING,
            "tracking_code": request.tracking_code,
            "service_code": request.service_code,
            "service_version": str(request.service_version),
            "service_name": request.service_name,
            "title": request.output.name,
            "unit": request.unit,
            "tenant": request.tenant,
            "applicant_name": request.applicant.name,
            "approved_at": request.approved_at.astimezone(UTC),
            "approved_by": request.approved_by,
            "unit_name": request.unit_name,
            "official": request.official.model_dump() if request.official else None,
            "signer_id": None,
            "sha256": None,
            "size": None,
            "pades_level": None,
            "issued_at": None,
            "revoked_at": None,
            "revocation_reason": None,
            "revoked_by": None,
            "created_at": self.clock(),
        }
        attempts = 0
        while True:
            try:
                async with self.sessions() as session, session.begin():
                    sequence = await self._next_number(session, f"{request.unit}/{year}")
                    values["number"] = f"{sequence:06d}/{request.unit}/{request.service_code}/{year}"
                    await session.execute(insert(documents).values(values))
                return values
            except IntegrityError:
                # The submission has its row already (a repeat, or a concurrent first call); the
                # rollback also took back the number.
                row = await self._by_submission(request.submission_id)
                if row is not None:
                    return row
                # Otherwise two transactions started the unit's counter for the year at once;
                # the counter row exists now.
                attempts += 1
                if attempts == 3:
                    raise

    @staticmethod
    async def _next_number(session: AsyncSession, scope: str) -> int:
        """The next number in `scope`; the counter row's write lock (PostgreSQL row lock, SQLite
        database lock) is held until commit, so two documents never share a number."""
        bump = (
            update(number_sequences)
            .where(number_sequences.c.scope == scope)
            .values(last_value=number_sequences.c.last_value + 1)
            .returning(number_sequences.c.last_value)
        )
        value = (await session.execute(bump)).scalar_one_or_none()
        if value is None:
            await session.execute(insert(number_sequences).values(scope=scope, last_value=1))
            value = 1
        return value

    def _content(self, request: IssueRequest, row: Any, signer_name: str,
                 issued_at: datetime) -> DocumentContent | KuitansiContent:
        if request.payment is not None:
            payment = request.payment
            return KuitansiContent(
                document_id=row["id"], number=row["number"], bill_code=payment.bill_code, amount=payment.amount,
                paid_at=payment.paid_at, reference=payment.reference, channel=payment.channel,
                service_name=request.service_name, service_code=request.service_code,
                service_version=str(request.service_version), fee_legal_basis=payment.fee_legal_basis,
                unit=request.unit, unit_name=request.unit_name, tracking_code=request.tracking_code,
                applicant_name=request.applicant.name, issued_at=issued_at, signer_name=signer_name,
                verify_url=self.verify_url(row["id"]),
            )
        return DocumentContent(
            document_id=row["id"],
            number=row["number"],
            title=request.output.name,
            description=request.output.description,
            validity=request.output.validity,
            service_name=request.service_name,
            service_code=request.service_code,
            service_version=str(request.service_version),
            unit=request.unit,
            tracking_code=request.tracking_code,
            applicant_name=request.applicant.name,
            applicant_agency=request.applicant.agency,
            fields=tuple(flatten_fields(request.data, request.form_schema)),
            note=request.note,
            issued_at=issued_at,
            signer_name=signer_name,
            verify_url=self.verify_url(row["id"]),
            unit_name=request.unit_name,
            official=NamedOfficial(**request.official.model_dump()) if request.official else None,
            approvals=tuple(
                Initial(NamedOfficial(approval.nip, approval.name, approval.position), approval.action, approval.at,
                        approval.step)
                for approval in request.approvals
            ),
        )

    # -- reading ----------------------------------------------------------------------------------

    async def _by_submission(self, submission_id: str) -> Any | None:
        async with self.read_sessions() as session:
            result = await session.execute(select(documents).where(documents.c.submission_id == submission_id))
            return result.mappings().first()

    async def _by_id(self, document_id: str) -> Any | None:
        async with self.read_sessions() as session:
            result = await session.execute(select(documents).where(documents.c.id == document_id))
            return result.mappings().first()

    async def _visible(self, document_id: str, identity: Identity) -> Any:
        row = await self._by_id(document_id) if _is_uuid(document_id) else None
        # Applicants see their region's documents, officers their unit's, admins all.
        if row is None or row["status"] == PENDING or not Visibility.of(identity).allows(row):
            raise Problem(404, NOT_FOUND)
        return row

    async def get(self, document_id: str, identity: Identity) -> dict[str, Any]:
        return await self._present(await self._visible(document_id, identity))

    async def content(self, document_id: str, identity: Identity) -> Any:
        return await self._visible(document_id, identity)

    async def history(self, document_id: str, identity: Identity) -> list[dict[str, Any]]:
        row = await self._visible(document_id, identity)
        async with self.read_sessions() as session:
            result = await session.execute(
                select(document_events).where(document_events.c.document_id == row["id"]).order_by(document_events.c.id)
            )
            return [
                {"at": event["at"].isoformat(), "action": event["action"],
                 "actor": {"id": event["actor_id"], "role": event["actor_role"]}, "note": event["note"]}
                for event in result.mappings()
            ]

    async def _signer(self, signer_id: str | None) -> dict[str, Any] | None:
        if signer_id is None:
            return None
        cached = self._signer_summaries.get(signer_id)
        if cached and time.monotonic() - cached[0] < SIGNER_SUMMARY_SECONDS:
            return cached[1]
        async with self.read_sessions() as session:
            row = (await session.execute(select(certificates).where(certificates.c.id == signer_id))).mappings().first()
        summary = None if row is None else _certificate_summary(row)
        if summary is not None:
            self._signer_summaries[signer_id] = (time.monotonic(), summary)
        return summary

    async def _present(self, row: Any) -> dict[str, Any]:
        signer = await self._signer(row["signer_id"])
        return {
            "document_id": row["id"],
            "number": row["number"],
            "status": row["status"],
            "submission_id": row["submission_id"],
            "tracking_code": row["tracking_code"],
            "service_code": row["service_code"],
            "service_version": row["service_version"],
            "service_name": row["service_name"],
            "title": row["title"],
            "unit": row["unit"],
            "unit_name": row["unit_name"],
            "official": row["official"],
            "tenant": row["tenant"],
            "applicant": {"name": row["applicant_name"]},
            "approved_at": row["approved_at"].isoformat(),
            "issued_at": row["issued_at"].isoformat() if row["issued_at"] else None,
            "sha256": row["sha256"],
            "size": row["size"],
            "content_type": "application/pdf",
            "content_url": f"{self.public_url}/v1/documents/{row['id']}/content",
            "verify_url": self.verify_url(row["id"]),
            "signature": {"format": "PAdES", "level": row["pades_level"], "signer": signer},
            "revoked": row["status"] == REVOKED,
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
            "revocation_reason": row["revocation_reason"],
        }

    # -- revocation -------------------------------------------------------------------------------

    async def revoke(self, document_id: str, reason: str, identity: Identity) -> dict[str, Any]:
        row = await self._by_id(document_id) if _is_uuid(document_id) else None
        if row is None or row["status"] == PENDING or not can_revoke(identity, row):
            raise Problem(404, NOT_FOUND)
        now = self.clock()
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(documents)
                .where(documents.c.id == row["id"], documents.c.status == ISSUED)
                .values(status=REVOKED, revoked_at=now, revocation_reason=reason, revoked_by=identity.subject)
            )
            if result.rowcount != 1:
                raise Problem(409, ALREADY_REVOKED, slug="already-revoked")
            await self._audit(session, row["id"], "revoked", identity, reason, None)
            await idempotency.settle(session, idempotency.changed(f"/v1/documents/{row['id']}"))
            await stage_event(
                session, outbox, type="document.revoked", source=EVENT_SOURCE, subject=f"documents/{row['id']}",
                data={
                    "document_id": row["id"],
                    "submission_id": row["submission_id"],
                    "tracking_code": row["tracking_code"],
                    "number": row["number"],
                    "service_code": row["service_code"],
                    "unit": row["unit"],
                    "tenant": row["tenant"],
                    "verify_url": self.verify_url(row["id"]),
                    "revoked_at": now.isoformat(),
                    "reason": reason,
                },
            )
        return await self._present(await self._by_id(row["id"]))

    async def _audit(self, session: AsyncSession, document_id: str, action: str, actor: Identity, note: str | None,
                     details: dict[str, Any] | None) -> None:
        await session.execute(
            insert(document_events).values(document_id=document_id, at=self.clock(), action=action,
                                           actor_id=actor.subject, actor_role=actor.role, note=note,
                                           details=details)
        )
        # The revocation's reason is the officer's free text: it stays in the document's history.
        await audit_log.record(session, audit, actor, f"document.{action}", "document", document_id,
                               details=details)

    # -- public verification ----------------------------------------------------------------------

    async def public_status(self, document_id: str) -> dict[str, Any] | None:
        """What anyone holding the QR code may learn: no personal data."""
        row = await self._by_id(document_id) if _is_uuid(document_id) else None
        if row is None or row["status"] == PENDING:
            return None
        signer = await self._signer(row["signer_id"])
        signer_revoked = _signer_revoked_before(signer, row["issued_at"])
        revoked = row["status"] == REVOKED
        return {
            "document_id": row["id"],
            "valid": not revoked and not signer_revoked,
            "state": "revoked" if revoked else ("invalid" if signer_revoked else "valid"),
            "revoked": revoked,
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
            "issued_at": row["issued_at"].isoformat(),
            # The unit's full name when the document was issued with it (its code otherwise), and
            # the deciding official's name and position: people, not codes or certificate names.
            "issuer": row["unit_name"] or row["unit"],
            "unit": row["unit"],
            "official": _public_official(row["official"]),
            "number": row["number"],
            "title": row["title"],
            "service_code": row["service_code"],
            "service_name": row["service_name"],
            "sha256": row["sha256"],
            "signature": {"format": "PAdES", "level": row["pades_level"], "signer": signer},
            "verify_url": self.verify_url(row["id"]),
        }

    async def verify_upload(self, data: bytes) -> dict[str, Any]:
        trust_roots = tuple(pki.der(root) for root in self.keystore.trust_roots()) + self._remote_trust_roots
        if self._verify_waiting >= self._verify_backlog:
            raise Problem(503, VERIFY_BUSY, slug="busy", headers={"Retry-After": "5"})
        self._verify_waiting += 1
        try:
            async with self._verify_slots:
                facts: PdfFacts = await run_isolated(inspect_pdf, data, trust_roots, timeout=self._verify_timeout,
                                                     memory_bytes=self._verify_memory)
        except (IsolatedTimeout, IsolatedFailure) as exc:
            log.info("an uploaded PDF could not be checked: %s", type(exc).__name__)
            return {"valid": False, "reasons": ["too_complex"], "signatures": [], "document": None}
        finally:
            self._verify_waiting -= 1
        if facts.outcome != "checked":
            return {"valid": False, "reasons": [facts.outcome], "signatures": [], "document": None}

        reasons: list[str] = []
        for facts_of_one in facts.signatures:
            reasons.extend(problem for problem in signature_problems(facts_of_one) if problem not in reasons)
        document = None
        hashes = {item.revision_sha256 for item in facts.signatures if item.revision_sha256}
        if hashes:
            async with self.read_sessions() as session:
                row = (await session.execute(
                    select(documents).where(documents.c.sha256.in_(hashes), documents.c.status != PENDING)
                )).mappings().first()
            if row is not None:
                document = await self.public_status(row["id"])
        if document is None:
            if "signature_invalid" not in reasons:
                reasons.append("unknown_document")
        else:
            if document["revoked"]:
                reasons.append("revoked")
            elif document["state"] == "invalid":
                reasons.append("signer_revoked")
        return {
            "valid": not reasons,
            "reasons": reasons,
            "signatures": [describe(item) for item in facts.signatures],
            "document": document,
        }

    # -- signers ----------------------------------------------------------------------------------

    async def list_certificates(self, limit: int, cursor: str | None) -> dict[str, Any]:
        query = select(certificates).order_by(certificates.c.id).limit(limit + 1)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(certificates.c.id > str(after))
        async with self.read_sessions() as session:
            rows = list((await session.execute(query)).mappings())
        page = rows[:limit]
        return {
            "items": [_certificate_summary(row) for row in page],
            "next_cursor": encode_cursor([page[-1]["id"]]) if len(rows) > limit else None,
        }

    async def revoke_signer(self, certificate_id: str, reason: str, identity: Identity) -> dict[str, Any]:
        if self.keystore.production:
            raise Problem(409, NOT_IN_PRODUCTION, slug="revoked-by-ca")
        # No route reads one signer again, so a retry after a crash is told the key was used.
        row = await self.keystore.revoke_certificate(
            certificate_id, reason, identity, idempotency.not_replayable()
        )
        self._signer_summaries.pop(certificate_id, None)
        if row is None:
            raise Problem(404, SIGNER_NOT_FOUND)
        log.warning("signer certificate %s of unit %s revoked (%s) by %s", row["serial"], row["unit"], reason,
                    identity.subject)
        return _certificate_summary(row)


def _certificate_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "unit": row["unit"],
        "subject": row["subject"],
        "serial": row["serial"],
        "not_before": row["not_before"].isoformat(),
        "not_after": row["not_after"].isoformat(),
        "fingerprint_sha256": row["fingerprint"],
        "status": row["status"],
        "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
        "revocation_reason": row["revocation_reason"],
        "revoked_by": row["revoked_by"],
    }


def _signer_revoked_before(signer: dict[str, Any] | None, issued_at: datetime) -> bool:
    """A compromised signer key voids what it signed after the revocation, not before."""
    if signer is None or signer["status"] != "revoked" or signer["revoked_at"] is None:
        return False
    return datetime.fromisoformat(signer["revoked_at"]) <= issued_at


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _public_official(official: dict[str, Any] | None) -> dict[str, str] | None:
    """What the public verify answer says of the deciding official: name and position (the NIP
    is printed on the document, not served to anyone holding a link)."""
    if not official:
        return None
    return {"name": official["name"], "position": official["position"]}
