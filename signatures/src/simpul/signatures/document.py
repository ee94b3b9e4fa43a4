"""The output document: its content, laid out on A4 pages and written as a tagged PDF with fpdf2
(the library the receipts use too; `simpul.shared.pdf` says what is tagged).

Text in Lato, the submission's data labelled by the form schema's titles and formatted as
Indonesians write it, the QR code as vector squares, and an empty area on the last page where the
signature stamp goes. Plain data in, bytes out, so it runs in a worker process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from simpul.shared.indonesian import WIB, decimal, integer, long_date, long_datetime, rupiah

if TYPE_CHECKING:
    from simpul.shared.pdf import TaggedPdf

__all__ = ["WIB", "DocumentContent", "Initial", "NamedOfficial", "RenderedDocument", "flatten_fields",
           "format_datetime", "format_value", "render"]

# Geometry in points (fpdf2 measures from the top left; the signature box is in PDF user space).
PAGE_WIDTH = 595.28
PAGE_HEIGHT = 841.89
MARGIN = 56.7
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
LABEL_WIDTH = 170.0
# The closing block on the last page: QR code on the left, signature stamp on the right.
CLOSING_HEIGHT = 150.0
QR_SIZE = 92.0
QR_MASK = 0
STAMP_WIDTH = 250.0
STAMP_HEIGHT = 78.0
FONT = "Lato"
_FONT_FILES = {"": "Lato-Regular.ttf", "B": "Lato-Bold.ttf"}

_SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# An integer field whose key names a year prints as written (2026, not 2.026).
_YEAR_KEY = re.compile(r"(^|_)(tahun|year|periode)(_|$)")


@dataclass(frozen=True)
class NamedOfficial:
    nip: str
    name: str
    position: str

    def line(self) -> str:
        return f"{self.name}, {self.position} (NIP {self.nip})"


@dataclass(frozen=True)
class Initial:
    """One act of an official in the initials chain (paraf)."""

    official: NamedOfficial
    action: str
    at: datetime
    step: int | None = None


# How the initials chain words each action (actions the procedure may add read as themselves).
ACTION_WORDS = {
    "start_review": "Memulai pemeriksaan",
    "forward": "Meneruskan",
    "return": "Mengembalikan",
    "assign": "Mendisposisikan",
    "request_revision": "Meminta perbaikan",
    "approve": "Menyetujui",
    "reject": "Menolak",
}


@dataclass(frozen=True)
class DocumentContent:
    document_id: str
    number: str
    title: str
    description: str | None
    validity: str | None
    service_name: str
    service_code: str
    service_version: str
    unit: str
    tracking_code: str
    applicant_name: str
    applicant_agency: str | None
    fields: tuple[tuple[str, str], ...]
    note: str | None
    issued_at: datetime
    signer_name: str
    verify_url: str
    # The unit's full name; None when the standard doesn't give it (the code is shown then).
    unit_name: str | None = None
    # Who decided; None when the approving token acted as no named official (the unit is named).
    official: NamedOfficial | None = None
    approvals: tuple[Initial, ...] = ()

    @property
    def issuing_unit(self) -> str:
        return self.unit_name or self.unit

    @property
    def decided_by(self) -> str:
        """Who the document says approved it: a person, or the unit, never a client id."""
        return self.official.line() if self.official else self.issuing_unit


@dataclass(frozen=True)
class RenderedDocument:
    pdf: bytes
    signature_page: int
    signature_box: tuple[int, int, int, int]  # PDF user space, origin bottom left


# -- the submission's data as label/value lines --------------------------------------------------


def humanise_key(key: str) -> str:
    """The fallback label of a field the form schema gives no title: its key in words."""
    words = key.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else key


def format_date(value: date) -> str:
    return long_date(value)


def format_datetime(value: datetime) -> str:
    return long_datetime(value)


def _choice_title(value: Any, schema: dict[str, Any]) -> str | None:
    """The title JSON Schema gives a choice: `oneOf`/`anyOf` of `{"const": ..., "title": ...}`."""
    for keyword in ("oneOf", "anyOf"):
        for option in schema.get(keyword) or ():
            if isinstance(option, dict) and option.get("const") == value and isinstance(option.get("title"), str):
                return option["title"]
    return None


def _is_year(schema: dict[str, Any], key: str) -> bool:
    """A year: its key says so, or its bounds are those of years (2015..2100)."""
    low, high = schema.get("minimum"), schema.get("maximum")
    bounded = isinstance(low, int) and isinstance(high, int) and 1900 <= low <= high <= 2200
    return bounded or bool(_YEAR_KEY.search(key))


def _is_rupiah(schema: dict[str, Any]) -> bool:
    return "rupiah" in f"{schema.get('title', '')} {schema.get('description', '')}".lower()


def format_value(value: Any, schema: dict[str, Any] | None = None, key: str = "") -> str:
    """One value as a person reads it, guided by its schema where there is one: a choice by its
    title, money in rupiah, a year as written, a date in words."""
    schema = schema if isinstance(schema, dict) else {}
    title = _choice_title(value, schema)
    if title is not None:
        return title
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "Ya" if value else "Tidak"
    if isinstance(value, (int, float)) and _is_rupiah(schema):
        return rupiah(value)
    if isinstance(value, int):
        return str(value) if _is_year(schema, key) else integer(value)
    if isinstance(value, float):
        return decimal(value)
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return format_date(date.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, str) and _SNAKE.match(value):
        # A choice the schema gives no title: its words, not re-cased ("pt smi", never "Pt smi").
        return value.replace("_", " ")
    return str(value)


def _property(schema: dict[str, Any], key: str) -> dict[str, Any]:
    found = (schema.get("properties") or {}).get(key)
    return found if isinstance(found, dict) else {}


def flatten_fields(data: dict[str, Any], schema: dict[str, Any] | None = None,
                   prefix: str = "") -> list[tuple[str, str]]:
    """Nested objects and lists become one line each, labelled by their path of schema titles
    (the key in words where the schema has none)."""
    schema = schema if isinstance(schema, dict) else {}
    lines: list[tuple[str, str]] = []
    for key, value in data.items():
        field = _property(schema, str(key))
        label = f"{prefix}{field.get('title') or humanise_key(str(key))}"
        items = field.get("items") if isinstance(field.get("items"), dict) else {}
        if isinstance(value, dict):
            lines.extend(flatten_fields(value, field, f"{label} · "))
        elif isinstance(value, list):
            if all(not isinstance(item, (dict, list)) for item in value):
                lines.append((label, ", ".join(format_value(item, items, str(key)) for item in value) or "-"))
            else:
                for index, item in enumerate(value, start=1):
                    if isinstance(item, dict):
                        lines.extend(flatten_fields(item, items, f"{label} {index} · "))
                    else:
                        lines.append((f"{label} {index}", format_value(item, items, str(key))))
        else:
            lines.append((label, format_value(value, field, str(key))))
    return lines


# -- layout ---------------------------------------------------------------------------------------


def _new_pdf(content: DocumentContent) -> TaggedPdf:
    from fontpkg_lato import ROOT as LATO_ROOT

    from simpul.shared.pdf import TaggedPdf

    pdf = TaggedPdf(title=f"{content.title} {content.number}", created=content.issued_at, unit="pt",
                    author=content.issuing_unit, subject=content.number)
    # Page numbers are written once the count is known (below), not by substituting an alias in
    # every text, where "{nb}" typed into a form field would turn into a number.
    pdf.alias_nb_pages(None)
    for style, file in _FONT_FILES.items():
        pdf.add_font(FONT, style=style, fname=LATO_ROOT / "files" / file)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    # Blocks are placed by `make_room`: a tagged element never runs over a page break.
    pdf.set_auto_page_break(False, margin=MARGIN)
    pdf.add_page()
    return pdf


def _number_pages(pdf: TaggedPdf, number: str) -> None:
    """Each page names the document and its place in it, so a loose page can be traced."""
    pages = pdf.page_no()
    pdf.set_font(FONT, size=7)
    pdf.set_text_color(89)
    for page in range(1, pages + 1):
        pdf.page = page
        # Back on an earlier page: its content stream must select the font again.
        pdf.current_font_is_set_on_page = False
        label = f"Nomor {number} · Halaman {page} dari {pages}"
        with pdf.artifact():
            pdf.text(PAGE_WIDTH - MARGIN - pdf.get_string_width(label), PAGE_HEIGHT - MARGIN + 20, label)


def _paragraph(pdf: TaggedPdf, text: str, size: float, *, style: str = "", role: str = "P", grey: int = 0,
               align: str = "L", x: float = MARGIN, width: float = CONTENT_WIDTH, leading: float = 1.35) -> None:
    pdf.set_font(FONT, style=style, size=size)
    pdf.set_text_color(grey)
    height = size * leading
    lines = pdf.multi_cell(width, height, text, align=align, dry_run=True, output="LINES")
    pdf.make_room(height * len(lines))
    pdf.set_x(x)
    with pdf.tagged(role):
        pdf.multi_cell(width, height, text, align=align, new_x="LEFT", new_y="NEXT")


def _heading(pdf: TaggedPdf, text: str) -> None:
    pdf.make_room(40)
    pdf.ln(10)
    _paragraph(pdf, text, 11, style="B", role="H2", leading=1.45)
    with pdf.artifact():
        pdf.set_line_width(0.4)
        pdf.line(MARGIN, pdf.y, PAGE_WIDTH - MARGIN, pdf.y)
    pdf.ln(5)


def _row(pdf: TaggedPdf, label: str, value: str, size: float = 10.0) -> None:
    """A label and its value side by side."""
    height = size * 1.35
    pdf.set_font(FONT, size=size)
    label_lines = pdf.multi_cell(LABEL_WIDTH - 12, height, label, align="L", dry_run=True, output="LINES")
    pdf.set_font(FONT, style="B", size=size)
    value_lines = pdf.multi_cell(CONTENT_WIDTH - LABEL_WIDTH, height, value, align="L", dry_run=True, output="LINES")
    pdf.make_room(height * max(len(label_lines), len(value_lines)))
    top = pdf.y
    # Two paragraphs, so assistive technology reads a pause between the label and its value.
    with pdf.tagged("P"):
        pdf.set_font(FONT, size=size)
        pdf.set_text_color(64)
        pdf.set_xy(MARGIN, top)
        pdf.multi_cell(LABEL_WIDTH - 12, height, label, align="L", new_x="LEFT", new_y="NEXT")
    below_label = pdf.y
    with pdf.tagged("P"):
        pdf.set_font(FONT, style="B", size=size)
        pdf.set_text_color(0)
        pdf.set_xy(MARGIN + LABEL_WIDTH, top)
        pdf.multi_cell(CONTENT_WIDTH - LABEL_WIDTH, height, value, align="L", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(MARGIN, max(below_label, pdf.y) + 2)


def _qr(pdf: TaggedPdf, x: float, y: float, size: float, content: str) -> None:
    import qrcode  # rendering happens in the signing workers only (preloaded there)
    from qrcode.constants import ERROR_CORRECT_M

    # A fixed mask: choosing the "best" of the eight (what qrcode does unasked) builds and
    # scores the symbol eight times, 80% of the code's cost, for a symbol this small and
    # printed this large any mask reads.
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=QR_MASK)
    code.add_data(content)
    code.make(fit=True)
    matrix = code.get_matrix()
    module = size / len(matrix)
    pdf.set_fill_color(0)
    with pdf.tagged("Figure", alt_text=f"Kode QR menuju halaman verifikasi dokumen: {content}"):
        for row_index, row in enumerate(matrix):
            column = 0
            while column < len(row):
                if not row[column]:
                    column += 1
                    continue
                start = column
                while column < len(row) and row[column]:
                    column += 1
                pdf.rect(x + start * module, y + row_index * module, (column - start) * module, module, style="F")


def render(content: DocumentContent) -> RenderedDocument:
    pdf = _new_pdf(content)

    _paragraph(pdf, "SIMPUL · PELAYANAN TERPADU SATU PINTU", 9, style="B", grey=77, leading=1.45)
    _paragraph(pdf, f"Unit kerja penerbit: {content.issuing_unit}", 9, grey=77, leading=1.45)
    pdf.ln(4)
    with pdf.artifact():
        pdf.set_line_width(1.2)
        pdf.line(MARGIN, pdf.y, PAGE_WIDTH - MARGIN, pdf.y)
    pdf.ln(20)

    _paragraph(pdf, content.title.upper(), 14, style="B", role="H1", align="C", leading=1.3)
    pdf.ln(2)
    _paragraph(pdf, f"Nomor: {content.number}", 10.5, align="C")
    pdf.ln(12)
    if content.description:
        _paragraph(pdf, content.description, 10)
        pdf.ln(4)

    _heading(pdf, "Pemohon")
    _row(pdf, "Nama", content.applicant_name)
    if content.applicant_agency:
        _row(pdf, "Instansi", content.applicant_agency)
    _row(pdf, "Layanan", f"{content.service_name} ({content.service_code}, versi {content.service_version})")
    _row(pdf, "Kode pelacakan", content.tracking_code)

    if content.fields:
        _heading(pdf, "Rincian permohonan")
        for label, value in content.fields:
            _row(pdf, label, value)

    _heading(pdf, "Keputusan")
    _row(pdf, "Status", "Disetujui")
    _row(pdf, "Disetujui oleh", content.decided_by)
    if content.note:
        _row(pdf, "Catatan", content.note)
    if content.validity:
        _row(pdf, "Masa berlaku", content.validity)
    _row(pdf, "Tanggal terbit", format_datetime(content.issued_at))

    if content.approvals:
        _heading(pdf, "Paraf")
        for order, initial in enumerate(content.approvals, start=1):
            step = f"langkah {initial.step}, " if initial.step is not None else ""
            action = ACTION_WORDS.get(initial.action, initial.action)
            _row(pdf, f"{order}. {action}", f"{initial.official.line()}, {step}{format_datetime(initial.at)}")

    # The closing block sits at the foot of the last page, the signer's line 18 pt above it.
    pdf.make_room(CLOSING_HEIGHT + 18)
    top = PAGE_HEIGHT - MARGIN - CLOSING_HEIGHT
    _qr(pdf, MARGIN, top + 4, QR_SIZE, content.verify_url)
    caption_x = MARGIN + QR_SIZE + 12
    caption_width = PAGE_WIDTH - MARGIN - STAMP_WIDTH - caption_x - 12
    pdf.set_y(top + 4)
    _paragraph(pdf, "Pindai kode QR untuk memeriksa keaslian dan status dokumen ini:", 8, grey=51,
               x=caption_x, width=caption_width)
    _paragraph(pdf, content.verify_url, 7, grey=51, x=caption_x, width=caption_width)

    # The signer is named here, once: the stamp pyHanko draws in the box below only adds the time.
    stamp_left = PAGE_WIDTH - MARGIN - STAMP_WIDTH
    pdf.set_y(top - 14)
    _paragraph(pdf, f"Ditandatangani secara elektronik oleh {content.signer_name}", 7.5, grey=51,
               x=stamp_left, width=STAMP_WIDTH)
    stamp_top = PAGE_HEIGHT - top
    signature_box = (
        round(stamp_left), round(stamp_top - STAMP_HEIGHT - 4), round(stamp_left + STAMP_WIDTH), round(stamp_top - 4)
    )

    footer_y = PAGE_HEIGHT - MARGIN - 30
    with pdf.artifact():
        pdf.set_line_width(0.4)
        pdf.line(MARGIN, footer_y - 6, PAGE_WIDTH - MARGIN, footer_y - 6)
    pdf.set_y(footer_y)
    _paragraph(
        pdf,
        "Dokumen ini ditandatangani secara elektronik dengan sertifikat elektronik dan cap waktu "
        "sehingga tidak memerlukan tanda tangan basah atau stempel. Perubahan sekecil apa pun membuat "
        "tanda tangannya tidak sah.",
        7, grey=89, leading=1.3,
    )
    _number_pages(pdf, content.number)
    return RenderedDocument(
        pdf=bytes(pdf.output()),
        signature_page=pdf.page_no() - 1,
        signature_box=signature_box,
    )
