"""The receipt (tanda terima) as a tagged PDF: what an applicant prints or keeps as proof of
submission. Written with fpdf2 through `simpul.shared.pdf`, like the issued documents."""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from simpul.shared.indonesian import long_datetime, rupiah

# A Unicode font, so applicant names and agencies in any script print as written.
FONT = Path(__file__).parent / "fonts" / "DejaVuSans.ttf"
FAMILY = "DejaVu"
LABEL_WIDTH = 60  # mm


def _local(moment: datetime | None) -> str:
    return long_datetime(moment) if moment else "-"


def _spaced(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def _fee(fee: dict[str, Any]) -> str:
    if not fee["amount"]:
        return "Tidak dipungut biaya"
    return rupiah(fee["amount"]) if fee["currency"] == "IDR" else f"{fee['amount']} {fee['currency']}"


def receipt_pdf(row: dict[str, Any], track_url: str) -> bytes:
    """Render the receipt of a submitted submission (`row` as stored)."""
    # Imported on the first receipt: fpdf2 with Pillow, fontTools and qrcode is ~30 MB that a
    # service which is never asked for a receipt would hold for nothing.
    import qrcode

    from simpul.shared.pdf import TaggedPdf, lean_font

    standard = row["standard"]
    fee = standard["fee"]
    applicant = row["applicant"]
    pdf = TaggedPdf(title=f"Tanda terima permohonan {row['receipt_number']}", created=row["receipt_issued_at"],
                    family=FAMILY, subject=row["service_name"])
    pdf.add_font(FAMILY, fname=lean_font(FONT))
    pdf.set_auto_page_break(False, margin=pdf.b_margin)
    pdf.add_page()
    pdf.paragraph("TANDA TERIMA PERMOHONAN", 16, 10, role="H1", align="C")
    pdf.ln(6)
    lines = [
        ("Nomor tanda terima", row["receipt_number"]),
        ("Kode pelacakan", _spaced(row["tracking_code"])),
        ("Layanan", f"{row['service_name']} ({row['service_code']}, versi {row['service_version']})"),
        # The unit by name where the standard gives it; its code otherwise.
        ("Unit pelaksana", standard.get("unit_name") or row["unit"]),
        ("Pemohon", applicant["name"]),
        ("Instansi", applicant.get("agency") or "-"),
        ("Kode wilayah", row["tenant"]),
        ("Diajukan", _local(row["submitted_at"])),
        ("Batas waktu penyelesaian", f"{_local(row['due_at'])} ({row['sla_working_days']} hari kerja)"),
        ("Biaya", _fee(fee)),
        ("Dasar hukum biaya", fee.get("legal_basis") or "-"),
        ("Diterbitkan", _local(row["receipt_issued_at"])),
    ]
    for label, value in lines:
        pdf.row(label, str(value), 11, 7, label_width=LABEL_WIDTH, gap=4, value_style="", after=1)
    pdf.ln(4)
    image = qrcode.make(track_url, box_size=4, border=2).get_image()
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    pdf.make_room(40)
    # fpdf2 tags an image with alt text as a Figure.
    pdf.image(buffer, w=35, alt_text=f"Kode QR menuju halaman pelacakan permohonan: {track_url}")
    pdf.paragraph(f"Pantau status permohonan di {track_url}. Simpan tanda terima ini sebagai bukti pengajuan.",
                  9, 5)
    return bytes(pdf.output())
