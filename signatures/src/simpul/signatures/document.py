"""The output document: its content, laid out on A4 pages and written as a PDF.

A small writer of its own (see fonts.py for why): text in the prepared Lato faces, rules, the QR
code as vector squares, and an empty area on the last page where the visible signature stamp goes.
Everything is plain data in, bytes out, so it runs in a worker process.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from simpul.signatures.fonts import BOLD, REGULAR, Face, face

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

MONTHS_ID = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)
# Documents show the time in Western Indonesia Time, where the ministries sit.
WIB = timezone(timedelta(hours=7), "WIB")
_SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
    words = key.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else key


def format_date(value: date) -> str:
    return f"{value.day} {MONTHS_ID[value.month - 1]} {value.year}"


def format_datetime(value: datetime) -> str:
    local = value.astimezone(WIB)
    return f"{format_date(local.date())} pukul {local:%H.%M} WIB"


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "Ya" if value else "Tidak"
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    if isinstance(value, float):
        whole, _, fraction = f"{value:,.2f}".rstrip("0").rstrip(".").partition(".")
        whole = whole.replace(",", ".")
        return f"{whole},{fraction}" if fraction else whole
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            try:
                return format_date(date.fromisoformat(value))
            except ValueError:
                return value
        if _SNAKE.match(value):
            return humanise_key(value)
        return value
    return str(value)


def flatten_fields(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested objects and lists become one line each, labelled by their path."""
    lines: list[tuple[str, str]] = []
    for key, value in data.items():
        label = f"{prefix}{humanise_key(str(key))}"
        if isinstance(value, dict):
            lines.extend(flatten_fields(value, f"{label} · "))
        elif isinstance(value, list):
            if all(not isinstance(item, (dict, list)) for item in value):
                lines.append((label, ", ".join(format_value(item) for item in value) or "-"))
            else:
                for index, item in enumerate(value, start=1):
                    if isinstance(item, dict):
                        lines.extend(flatten_fields(item, f"{label} {index} · "))
                    else:
                        lines.append((f"{label} {index}", format_value(item)))
        else:
            lines.append((label, format_value(value)))
    return lines


# -- layout ---------------------------------------------------------------------------------------


def wrap(text: str, font: Face, size: float, width: float) -> list[str]:
    """Greedy word wrap; a word wider than the line is broken between characters."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if font.width(candidate, size) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            for char in word:
                if font.width(current + char, size) > width and current:
                    lines.append(current)
                    current = ""
                current += char
        lines.append(current)
    return lines


class _Page:
    def __init__(self) -> None:
        self.ops: list[bytes] = []


class _Layout:
    """A cursor running down the pages; `y` is measured from the top of the page."""

    def __init__(self) -> None:
        self.regular = face(REGULAR)
        self.bold = face(BOLD)
        self.pages: list[_Page] = []
        self.new_page()

    def new_page(self) -> None:
        self.pages.append(_Page())
        self.y = MARGIN

    @property
    def page(self) -> _Page:
        return self.pages[-1]

    def ensure(self, height: float) -> None:
        if self.y + height > PAGE_HEIGHT - MARGIN:
            self.new_page()

    def text(self, x: float, y: float, text: str, font: Face, size: float, grey: float = 0.0,
             page: _Page | None = None) -> None:
        name = b"/F2" if font is self.bold else b"/F1"
        baseline = PAGE_HEIGHT - y - size * font.ascent / 1000
        (page or self.page).ops.append(
            b"BT %.3f g %s %.2f Tf 1 0 0 1 %.2f %.2f Tm %s Tj ET"
            % (grey, name, size, x, baseline, font.encode(text))
        )

    def rule(self, y: float, width: float = 0.6) -> None:
        line_y = PAGE_HEIGHT - y
        self.page.ops.append(b"%.2f w 0 G %.2f %.2f m %.2f %.2f l S" % (width, MARGIN, line_y, PAGE_WIDTH - MARGIN, line_y))

    def paragraph(self, text: str, font: Face, size: float, *, x: float = MARGIN, width: float = CONTENT_WIDTH,
                  leading: float = 1.35, centred: bool = False, grey: float = 0.0) -> None:
        for line in wrap(text, font, size, width):
            self.ensure(size * leading)
            left = x + (width - font.width(line, size)) / 2 if centred else x
            self.text(left, self.y, line, font, size, grey)
            self.y += size * leading

    def row(self, label: str, value: str, size: float = 10.0) -> None:
        leading = size * 1.35
        value_x = MARGIN + LABEL_WIDTH
        label_lines = wrap(label, self.regular, size, LABEL_WIDTH - 12)
        value_lines = wrap(value, self.bold, size, CONTENT_WIDTH - LABEL_WIDTH)
        for index in range(max(len(label_lines), len(value_lines))):
            self.ensure(leading)
            if index < len(label_lines):
                self.text(MARGIN, self.y, label_lines[index], self.regular, size, grey=0.25)
            if index < len(value_lines):
                self.text(value_x, self.y, value_lines[index], self.bold, size)
            self.y += leading
        self.y += 2

    def heading(self, text: str) -> None:
        self.ensure(40)
        self.y += 10
        self.text(MARGIN, self.y, text, self.bold, 11)
        self.y += 16
        self.rule(self.y - 3, 0.4)
        self.y += 4

    def qr(self, x: float, y: float, size: float, content: str) -> None:
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
        top = PAGE_HEIGHT - y
        squares = []
        for row_index, row in enumerate(matrix):
            column = 0
            while column < len(row):
                if not row[column]:
                    column += 1
                    continue
                start = column
                while column < len(row) and row[column]:
                    column += 1
                squares.append(
                    b"%.3f %.3f %.3f %.3f re"
                    % (x + start * module, top - (row_index + 1) * module, (column - start) * module, module)
                )
        self.page.ops.append(b"0 g " + b" ".join(squares) + b" f")


def render(content: DocumentContent) -> RenderedDocument:
    layout = _Layout()
    regular, bold = layout.regular, layout.bold

    layout.text(MARGIN, layout.y, "SIMPUL · PELAYANAN TERPADU SATU PINTU", bold, 9, grey=0.3)
    layout.y += 13
    layout.text(MARGIN, layout.y, f"Unit kerja penerbit: {content.issuing_unit}", regular, 9, grey=0.3)
    layout.y += 16
    layout.rule(layout.y, 1.2)
    layout.y += 22

    layout.paragraph(content.title.upper(), bold, 14, centred=True, leading=1.3)
    layout.y += 2
    layout.paragraph(f"Nomor: {content.number}", regular, 10.5, centred=True)
    layout.y += 12
    if content.description:
        layout.paragraph(content.description, regular, 10)
        layout.y += 4

    layout.heading("Pemohon")
    layout.row("Nama", content.applicant_name)
    if content.applicant_agency:
        layout.row("Instansi", content.applicant_agency)
    layout.row("Layanan", f"{content.service_name} ({content.service_code}, versi {content.service_version})")
    layout.row("Kode pelacakan", content.tracking_code)

    if content.fields:
        layout.heading("Rincian permohonan")
        for label, value in content.fields:
            layout.row(label, value)

    layout.heading("Keputusan")
    layout.row("Status", "Disetujui")
    layout.row("Disetujui oleh", content.decided_by)
    if content.note:
        layout.row("Catatan", content.note)
    if content.validity:
        layout.row("Masa berlaku", content.validity)
    layout.row("Tanggal terbit", format_datetime(content.issued_at))

    if content.approvals:
        layout.heading("Paraf")
        for order, initial in enumerate(content.approvals, start=1):
            step = f"langkah {initial.step}, " if initial.step is not None else ""
            action = ACTION_WORDS.get(initial.action, initial.action)
            layout.row(f"{order}. {action}", f"{initial.official.line()}, {step}{format_datetime(initial.at)}")

    layout.ensure(CLOSING_HEIGHT + 24)
    # The closing block sits at the foot of the last page.
    top = PAGE_HEIGHT - MARGIN - CLOSING_HEIGHT
    layout.qr(MARGIN, top + 4, QR_SIZE, content.verify_url)
    caption_x = MARGIN + QR_SIZE + 12
    caption_width = PAGE_WIDTH - MARGIN - STAMP_WIDTH - caption_x - 12
    layout.y = top + 4
    layout.paragraph("Pindai kode QR untuk memeriksa keaslian dan status dokumen ini:", regular, 8,
                     x=caption_x, width=caption_width, grey=0.2)
    layout.paragraph(content.verify_url, regular, 7, x=caption_x, width=caption_width, grey=0.2)

    stamp_left = PAGE_WIDTH - MARGIN - STAMP_WIDTH
    layout.text(stamp_left, top - 10, f"Ditandatangani secara elektronik oleh {content.signer_name}", regular, 7.5, grey=0.2)
    stamp_top = PAGE_HEIGHT - top
    signature_box = (
        round(stamp_left), round(stamp_top - STAMP_HEIGHT - 4), round(stamp_left + STAMP_WIDTH), round(stamp_top - 4)
    )

    footer_y = PAGE_HEIGHT - MARGIN - 30
    layout.y = footer_y
    layout.rule(footer_y - 6, 0.4)
    layout.paragraph(
        "Dokumen ini ditandatangani secara elektronik dengan sertifikat elektronik dan cap waktu "
        "sehingga tidak memerlukan tanda tangan basah atau stempel. Perubahan sekecil apa pun membuat "
        "tanda tangannya tidak sah.",
        regular, 7, grey=0.35, leading=1.3,
    )
    # Each page names the document and its place in it, so a loose page can be traced.
    for index, page in enumerate(layout.pages, start=1):
        label = f"Nomor {content.number} · Halaman {index} dari {len(layout.pages)}"
        layout.text(PAGE_WIDTH - MARGIN - regular.width(label, 7), PAGE_HEIGHT - MARGIN + 14, label, regular, 7,
                    grey=0.35, page=page)
    return RenderedDocument(
        pdf=_write(layout.pages, content),
        signature_page=len(layout.pages) - 1,
        signature_box=signature_box,
    )


# -- the PDF file ---------------------------------------------------------------------------------


def _pdf_text(value: str) -> bytes:
    """A PDF text string: UTF-16BE with a byte order mark, so any character survives."""
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _pdf_date(value: datetime) -> bytes:
    return value.astimezone(UTC).strftime("(D:%Y%m%d%H%M%S+00'00')").encode("ascii")


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (dictionary, len(data), data)


def _font_objects(base: int, font: Face) -> list[bytes]:
    """Type0 font, its CIDFontType2 descendant, descriptor, program and ToUnicode map:
    objects base .. base + 4."""
    name = font.postscript_name.encode("ascii", "replace")
    widths = b" ".join(b"%d" % width for width in font.widths)
    return [
        b"<< /Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H /DescendantFonts [%d 0 R] "
        b"/ToUnicode %d 0 R >>" % (name, base + 1, base + 4),
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /%s "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        b"/FontDescriptor %d 0 R /CIDToGIDMap /Identity /DW 500 /W [0 [%s]] >>" % (name, base + 2, widths),
        b"<< /Type /FontDescriptor /FontName /%s /Flags 32 /FontBBox [%d %d %d %d] /ItalicAngle 0 "
        b"/Ascent %d /Descent %d /CapHeight %d /StemV 80 /FontFile2 %d 0 R >>"
        % (name, *font.bbox, font.ascent, font.descent, font.cap_height, base + 3),
        _stream(b"/Filter /FlateDecode /Length1 %d" % font.program_length, font.font_program),
        _stream(b"/Filter /FlateDecode", font.to_unicode),
    ]


def _write(pages: list[_Page], content: DocumentContent) -> bytes:
    # Fixed numbering: 1 catalog, 2 page tree, 3 info, 4-8 regular font, 9-13 bold font,
    # then a page object and its content stream per page.
    first_page = 14
    page_refs = b" ".join(b"%d 0 R" % (first_page + 2 * index) for index in range(len(pages)))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R /Lang (id-ID) >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (page_refs, len(pages)),
        b"<< /Title %s /Subject %s /Author %s /Creator (Simpul) /Producer (Simpul signatures) "
        b"/CreationDate %s /ModDate %s >>"
        % (
            _pdf_text(content.title),
            _pdf_text(content.number),
            _pdf_text(content.issuing_unit),
            _pdf_date(content.issued_at),
            _pdf_date(content.issued_at),
        ),
        *_font_objects(4, face(REGULAR)),
        *_font_objects(9, face(BOLD)),
    ]
    for index, page in enumerate(pages):
        number = first_page + 2 * index
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
            b"/Resources << /Font << /F1 4 0 R /F2 9 0 R >> >> >>" % (PAGE_WIDTH, PAGE_HEIGHT, number + 1)
        )
        objects.append(_stream(b"/Filter /FlateDecode", zlib.compress(b"\n".join(page.ops), 6)))

    output = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(output)
    output += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        output += b"%010d 00000 n \n" % offset
    file_id = hashlib.sha256(content.document_id.encode()).hexdigest()[:32].upper().encode("ascii")
    output += b"trailer\n<< /Size %d /Root 1 0 R /Info 3 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, file_id, file_id, xref_at,
    )
    return bytes(output)
