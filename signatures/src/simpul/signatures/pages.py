"""The verification pages people see after scanning a QR code: server-rendered HTML, no
JavaScript, Indonesian unless the browser asks for English. Templates are autoescaped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from simpul.signatures.document import WIB, format_datetime
from simpul.signatures.verification import REASONS

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December")

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "heading": "Verifikasi dokumen",
        "service": "Layanan",
        "state_valid": "Dokumen sah",
        "state_revoked": "Dokumen dicabut",
        "state_invalid": "Dokumen tidak sah",
        "state_unknown": "Dokumen tidak dikenal",
        "explain_valid": "Dokumen ini diterbitkan dan ditandatangani secara elektronik melalui Simpul dan masih berlaku.",
        "explain_revoked": "Dokumen ini pernah diterbitkan melalui Simpul, tetapi telah dicabut dan tidak berlaku lagi.",
        "explain_invalid": "Sertifikat yang menandatangani dokumen ini telah dicabut; dokumen tidak dapat dianggap sah.",
        "explain_unknown": "Tidak ada dokumen terbitan Simpul dengan alamat ini. Periksa kembali kode QR atau tautannya.",
        "check_valid": "Berkas sah",
        "check_revoked": "Berkas dari dokumen yang telah dicabut",
        "check_invalid": "Berkas tidak sah",
        "check_unknown": "Berkas tidak dikenal",
        "check_valid_explain": "Tanda tangan utuh, berantai ke root CA Simpul, memiliki cap waktu, dan dokumennya tercatat serta berlaku.",
        "number": "Nomor",
        "title_label": "Dokumen",
        "issuer": "Unit penerbit",
        "issued_at": "Diterbitkan",
        "revoked_at": "Dicabut",
        "signer": "Penanda tangan",
        "decided_by": "Disetujui oleh",
        "signature": "Tanda tangan",
        "compare_hint": "Untuk memastikan berkas yang Anda pegang adalah dokumen ini, unggah berkasnya di bawah; "
                        "sidik SHA-256-nya harus sama dengan yang tertera di atas.",
        "upload_title": "Periksa berkas PDF",
        "upload_hint": "Pilih berkas PDF yang ingin diperiksa:",
        "upload_button": "Periksa",
        "footer": "Tanda tangan dapat juga diperiksa dengan aplikasi PDF apa pun yang mempercayai",
        "root_ca": "root CA Simpul",
        "meaning_title": "Arti hasil pemeriksaan",
        "meaning_valid": "Sah: dokumen diterbitkan melalui Simpul, tanda tangannya utuh dan dokumen masih berlaku.",
        "meaning_revoked": "Dicabut: dokumen pernah diterbitkan, tetapi unit penerbit telah mencabutnya; jangan gunakan lagi.",
        "meaning_unknown": "Tidak dikenal: tidak ada dokumen terbitan Simpul dengan alamat ini; bisa jadi tautannya salah atau dokumennya palsu.",
        "switch": "English",
        "switch_lang": "en",
    },
    "en": {
        "heading": "Document verification",
        "service": "Service",
        "state_valid": "Valid document",
        "state_revoked": "Revoked document",
        "state_invalid": "Invalid document",
        "state_unknown": "Unknown document",
        "explain_valid": "This document was issued and electronically signed through Simpul and is in force.",
        "explain_revoked": "This document was issued through Simpul but has been revoked and is no longer in force.",
        "explain_invalid": "The certificate that signed this document has been revoked; the document cannot be relied on.",
        "explain_unknown": "No document issued by Simpul has this address. Check the QR code or link again.",
        "check_valid": "Valid file",
        "check_revoked": "File of a revoked document",
        "check_invalid": "Invalid file",
        "check_unknown": "Unknown file",
        "check_valid_explain": "The signature is intact, chains to the Simpul root CA, is timestamped, and the document is on record and in force.",
        "number": "Number",
        "title_label": "Document",
        "issuer": "Issuing unit",
        "issued_at": "Issued",
        "revoked_at": "Revoked",
        "signer": "Signer",
        "decided_by": "Approved by",
        "signature": "Signature",
        "compare_hint": "To make sure the file you hold is this document, upload it below; its SHA-256 "
                        "fingerprint must equal the one shown above.",
        "upload_title": "Check a PDF file",
        "upload_hint": "Choose the PDF file to check:",
        "upload_button": "Check",
        "footer": "Signatures can also be checked with any PDF reader that trusts the",
        "root_ca": "Simpul root CA",
        "meaning_title": "What the result means",
        "meaning_valid": "Valid: the document was issued through Simpul, its signature is intact and it is in force.",
        "meaning_revoked": "Revoked: the document was issued, but the issuing unit has withdrawn it; do not rely on it.",
        "meaning_unknown": "Unknown: Simpul issued no document at this address; the link may be wrong or the document forged.",
        "switch": "Bahasa Indonesia",
        "switch_lang": "id",
    },
}

_environment = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: str | None, language: str) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value)
    if language == "id":
        return format_datetime(moment)
    local = moment.astimezone(WIB)
    return f"{local.day} {MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M} WIB"


def _common(language: str) -> dict[str, Any]:
    return {"lang": language, "t": TEXTS[language], "verify_path": "/v1/verify", "ca_path": "/v1/pki/ca"}


def document_page(status: dict[str, Any] | None, language: str, path: str) -> str:
    state = status["state"] if status else "unknown"
    return _environment.get_template("document.html").render(
        **_common(language),
        switch_url=f"{path}?lang={TEXTS[language]['switch_lang']}",
        state=state,
        document=status,
        issued_at=_when(status and status["issued_at"], language),
        revoked_at=_when(status and status["revoked_at"], language),
    )


def check_page(result: dict[str, Any], language: str) -> str:
    document = result["document"]
    if result["valid"]:
        state = "valid"
    elif "revoked" in result["reasons"]:
        state = "revoked"
    elif "unknown_document" in result["reasons"] or result["reasons"] in (["not_pdf"], ["unsigned"]):
        state = "unknown"
    else:
        state = "invalid"
    return _environment.get_template("check.html").render(
        **_common(language),
        state=state,
        reasons=[REASONS[reason].render(language) for reason in result["reasons"]],
        document=document,
        issued_at=_when(document and document["issued_at"], language),
    )
