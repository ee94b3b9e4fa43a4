"""The receipt (tanda terima) as a PDF: what an applicant prints or keeps as proof of submission."""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from simpul.submissions.calendar import JAKARTA

# A Unicode font, so applicant names and agencies in any script print as written.
FONT = Path(__file__).parent / "fonts" / "DejaVuSans.ttf"


def _rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


def _local(moment: datetime | None) -> str:
    return moment.astimezone(JAKARTA).strftime("%d-%m-%Y %H:%M WIB") if moment else "-"


def _spaced(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def receipt_pdf(row: dict[str, Any], track_url: str) -> bytes:
    """Render the receipt of a submitted submission (`row` as stored)."""
    # Imported on the first receipt: fpdf2 with Pillow, fontTools and qrcode is ~30 MB that a
    # service which is never asked for a receipt would hold for nothing.
    import qrcode
    from fpdf import FPDF

    standard = row["standard"]
    fee = standard["fee"]
    applicant = row["applicant"]
    pdf = FPDF(format="A4")
    pdf.set_title(f"Tanda terima {row['receipt_number']}")
    pdf.set_creator("Simpul")
    pdf.set_creation_date(row["receipt_issued_at"])
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.add_page()
    pdf.set_font("DejaVu", size=16)
    pdf.cell(0, 10, "TANDA TERIMA PERMOHONAN", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("DejaVu", size=10)
    pdf.cell(0, 6, "Receipt of submission", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(6)
    lines = [
        ("Nomor tanda terima", row["receipt_number"]),
        ("Kode pelacakan", _spaced(row["tracking_code"])),
        ("Layanan", f"{row['service_name']} ({row['service_code']}, versi {row['service_version']})"),
        ("Unit pelaksana", row["unit"]),
        ("Pemohon", applicant["name"]),
        ("Instansi", applicant.get("agency") or "-"),
        ("Wilayah", row["tenant"]),
        ("Diajukan", _local(row["submitted_at"])),
        ("Batas waktu penyelesaian", f"{_local(row['due_at'])} ({row['sla_working_days']} hari kerja)"),
        ("Biaya", f"{_rupiah(fee['amount'])} ({fee['currency']})"),
        ("Dasar hukum biaya", fee.get("legal_basis") or "-"),
        ("Diterbitkan", _local(row["receipt_issued_at"])),
    ]
    pdf.set_font("DejaVu", size=11)
    for label, value in lines:
        pdf.cell(60, 8, label)
        pdf.multi_cell(0, 8, str(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    image = qrcode.make(track_url, box_size=4, border=2).get_image()
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    pdf.image(buffer, w=35)
    pdf.set_font("DejaVu", size=9)
    pdf.multi_cell(
        0,
        5,
        f"Pantau status permohonan di {track_url}. Simpan tanda terima ini sebagai bukti pengajuan.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
