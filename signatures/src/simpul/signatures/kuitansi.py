"""The payment receipt (kuitansi) of a paid bill as a PDF, signed like issued documents: the amount as
Indonesians write it (Rp 150.000), times in WIB, and a QR code of its verify URL.

Rendered with fpdf2 in the signing workers (signing.py); the service's own process only builds the
content, so fpdf2, Pillow and qrcode are imported when a kuitansi is first rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from io import BytesIO

from fontpkg_lato import ROOT as LATO_ROOT

from simpul.signatures.document import RenderedDocument

WIB = timezone(timedelta(hours=7), "WIB")
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")
# The visible signature: bottom right of the first page, in PDF points from the bottom left.
SIGNATURE_BOX = (330, 60, 560, 130)
MM = 72 / 25.4


@dataclass(frozen=True)
class KuitansiContent:
    document_id: str
    number: str
    bill_code: str
    amount: int
    paid_at: datetime
    reference: str
    channel: str
    service_name: str
    service_code: str
    service_version: str
    fee_legal_basis: str | None
    unit: str
    unit_name: str | None
    tracking_code: str
    applicant_name: str
    issued_at: datetime
    signer_name: str
    verify_url: str


def rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


def wib(moment: datetime) -> str:
    local = moment.astimezone(WIB)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} {local:%H.%M} WIB"


def channel_label(channel: str) -> str:
    return "Dikonfirmasi bendahara" if channel == "treasurer" else "Penyedia pembayaran (notifikasi bertanda tangan)"


def render_kuitansi(content: KuitansiContent) -> RenderedDocument:
    import qrcode
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(f"Kuitansi {content.number}")
    pdf.set_creator("Simpul")
    pdf.set_creation_date(content.issued_at)
    pdf.set_auto_page_break(False)
    pdf.add_font("Lato", fname=str(LATO_ROOT / "files" / "Lato-Regular.ttf"))
    pdf.add_font("Lato", style="B", fname=str(LATO_ROOT / "files" / "Lato-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("Lato", "B", 16)
    pdf.cell(0, 10, "KUITANSI PEMBAYARAN", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("Lato", size=10)
    pdf.cell(0, 6, content.unit_name or content.unit, new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.cell(0, 6, f"Nomor {content.number}", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(6)
    lines = [
        ("Telah diterima dari", content.applicant_name),
        ("Uang sejumlah", rupiah(content.amount)),
        ("Untuk pembayaran", f"{content.service_name} ({content.service_code}, versi {content.service_version})"),
        ("Dasar pengenaan", content.fee_legal_basis or "-"),
        ("Kode billing", content.bill_code),
        ("Kode pelacakan", content.tracking_code),
        ("Referensi pembayaran", content.reference),
        ("Saluran", channel_label(content.channel)),
        ("Dibayar pada", wib(content.paid_at)),
        ("Diterbitkan", wib(content.issued_at)),
    ]
    pdf.set_font("Lato", size=11)
    for label, value in lines:
        pdf.cell(55, 8, label)
        pdf.multi_cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    image = qrcode.make(content.verify_url, box_size=4, border=2).get_image()
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    pdf.image(buffer, w=35)
    pdf.set_font("Lato", size=9)
    pdf.multi_cell(0, 5, f"Periksa keaslian kuitansi ini di {content.verify_url}. Ditandatangani secara "
                         f"elektronik oleh {content.signer_name}.", new_x="LMARGIN", new_y="NEXT")
    return RenderedDocument(pdf=bytes(pdf.output()), signature_page=0, signature_box=SIGNATURE_BOX)
