"""Checking an uploaded PDF: runs in an isolated process (see workers.run_isolated), because the
input is untrusted and a parser can be made to loop or eat memory.

`inspect_pdf` reports facts (is it a PDF, is it encrypted, each signature's integrity, chain and
timestamp, what it covers); the service then adds what only the database knows (did we issue it,
was it revoked) and turns the facts into a verdict with reasons (`verdict`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509

from simpul.shared.problems import Text

PDF_MAGIC = b"%PDF-"
# The PDF header may follow some junk, but must start within the first kilobyte.
HEADER_WINDOW = 1024


@dataclass(frozen=True)
class TimestampFacts:
    at: datetime
    intact: bool
    valid: bool
    trusted: bool


@dataclass(frozen=True)
class SignatureFacts:
    field: str
    intact: bool
    valid: bool
    trusted: bool
    trust_problem: str | None
    signer_subject: str
    signer_serial: str
    signer_fingerprint: str
    signed_at: datetime | None
    timestamp: TimestampFacts | None
    covers_whole_file: bool
    revision_sha256: str


@dataclass(frozen=True)
class PdfFacts:
    outcome: str  # checked | not_pdf | malformed | encrypted | unsigned
    signatures: tuple[SignatureFacts, ...] = field(default=())


def inspect_pdf(data: bytes, trust_roots: tuple[bytes, ...]) -> PdfFacts:
    # Imported here: this runs in an isolated child of the forkserver, which has pyHanko preloaded;
    # the service's own process only needs this module's data classes and verdict rules.
    from pyhanko.pdf_utils.reader import PdfFileReader

    # Broken uploads are expected here; pyHanko's tracebacks about them would only flood the log.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    if PDF_MAGIC not in data[:HEADER_WINDOW]:
        return PdfFacts("not_pdf")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            return PdfFacts("encrypted")
        embedded = reader.embedded_signatures
    except Exception:  # any parser failure on untrusted input means: not a readable PDF
        return PdfFacts("malformed")
    if not embedded:
        return PdfFacts("unsigned")
    roots = [asn1_x509.Certificate.load(item) for item in trust_roots]
    return PdfFacts("checked", tuple(asyncio.run(_check_all(data, embedded, roots))))


async def _check_all(data: bytes, embedded, roots) -> list[SignatureFacts]:
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    results = []
    for signature in embedded:
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        try:
            status = await async_validate_pdf_signature(signature, signer_validation_context=context, skip_diff=True)
        except Exception:  # a signature too broken to evaluate counts as not intact
            results.append(_broken(data, signature))
            continue
        timestamp = None
        if status.timestamp_validity is not None:
            stamp = status.timestamp_validity
            timestamp = TimestampFacts(stamp.timestamp, stamp.intact, stamp.valid, stamp.trusted)
        results.append(
            SignatureFacts(
                field=signature.field_name,
                intact=status.intact,
                valid=status.valid,
                trusted=status.trusted,
                trust_problem=status.trust_problem_indic.name if status.trust_problem_indic else None,
                signer_subject=status.signing_cert.subject.human_friendly,
                signer_serial=format(status.signing_cert.serial_number, "x"),
                signer_fingerprint=hashlib.sha256(status.signing_cert.dump()).hexdigest(),
                signed_at=status.signer_reported_dt,
                timestamp=timestamp,
                covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
                revision_sha256=_revision_sha256(data, signature),
            )
        )
    return results


def _broken(data: bytes, signature) -> SignatureFacts:
    return SignatureFacts(
        field=str(getattr(signature, "field_name", "")), intact=False, valid=False, trusted=False,
        trust_problem=None, signer_subject="", signer_serial="", signer_fingerprint="", signed_at=None,
        timestamp=None, covers_whole_file=False, revision_sha256=_revision_sha256(data, signature),
    )


def _revision_sha256(data: bytes, signature) -> str:
    """The hash of the file as it was when signed: an issued document found again even when
    someone appended updates to it."""
    try:
        _, _, start, length = (int(value) for value in signature.byte_range)
    except (TypeError, ValueError, AttributeError):
        return ""
    return hashlib.sha256(data[: start + length]).hexdigest()


# -- the verdict ----------------------------------------------------------------------------------

REASONS: dict[str, Text] = {
    "not_pdf": Text("Berkas ini bukan PDF.", "The file is not a PDF."),
    "malformed": Text("Berkas PDF rusak atau terpotong.", "The PDF is damaged or truncated."),
    "encrypted": Text("PDF terenkripsi tidak dapat diperiksa; dokumen asli tidak pernah dienkripsi.",
                      "An encrypted PDF cannot be checked; issued documents are never encrypted."),
    "unsigned": Text("Dokumen tidak memiliki tanda tangan elektronik.", "The document carries no electronic signature."),
    "too_complex": Text("Dokumen tidak dapat diperiksa dalam batas waktu dan memori.",
                        "The document could not be checked within the time and memory limits."),
    "signature_invalid": Text("Tanda tangan tidak cocok dengan isi: dokumen telah diubah.",
                              "The signature does not match the content: the document was altered."),
    "untrusted": Text("Sertifikat penanda tangan tidak berantai ke root CA Simpul.",
                      "The signer's certificate does not chain to the Simpul root CA."),
    "no_timestamp": Text("Tanda tangan tidak memiliki cap waktu.", "The signature has no timestamp."),
    "timestamp_invalid": Text("Cap waktu tidak sah atau tidak tepercaya.", "The timestamp is not valid or not trusted."),
    "modified_after_signing": Text("Dokumen diubah setelah ditandatangani.", "The document was changed after it was signed."),
    "unknown_document": Text("Dokumen ini tidak tercatat sebagai terbitan Simpul.",
                             "This document is not on record as issued by Simpul."),
    "revoked": Text("Dokumen ini telah dicabut.", "This document has been revoked."),
    "signer_revoked": Text("Sertifikat penanda tangan telah dicabut sebelum dokumen ditandatangani.",
                           "The signer's certificate was revoked before the document was signed."),
}


def signature_problems(facts: SignatureFacts) -> list[str]:
    problems = []
    if not (facts.intact and facts.valid):
        return ["signature_invalid"]
    if not facts.trusted:
        problems.append("untrusted")
    if facts.timestamp is None:
        problems.append("no_timestamp")
    elif not (facts.timestamp.intact and facts.timestamp.valid and facts.timestamp.trusted):
        problems.append("timestamp_invalid")
    if not facts.covers_whole_file:
        problems.append("modified_after_signing")
    return problems


def describe(facts: SignatureFacts) -> dict[str, Any]:
    return {
        "field": facts.field,
        "intact": facts.intact and facts.valid,
        "trusted": facts.trusted,
        "signer": {
            "subject": facts.signer_subject,
            "serial": facts.signer_serial,
            "fingerprint_sha256": facts.signer_fingerprint,
        },
        "signed_at": facts.signed_at.isoformat() if facts.signed_at else None,
        "timestamp": (
            {"at": facts.timestamp.at.isoformat(),
             "valid": facts.timestamp.intact and facts.timestamp.valid and facts.timestamp.trusted}
            if facts.timestamp else None
        ),
        "covers_whole_file": facts.covers_whole_file,
        "problems": signature_problems(facts),
    }
