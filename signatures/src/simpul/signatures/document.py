"""The output document: its content, laid out on A4 pages and written as a tagged PDF.

A small writer of its own, not fpdf2 (which the receipts use): the same document written with
fpdf2 cost 62 ms of CPU against 3.5 ms here, where signing it adds ~5 ms (bench/document.py). Text in the prepared Lato faces (fonts.py), rules, the QR code as vector squares, and an
empty area on the last page where the visible signature stamp goes. Tagged: a structure tree
(H1, H2, P, Figure with alt text) in reading order, running heads and rules as artifacts,
`/Lang id-ID`, the title shown by viewers. Plain data in, bytes out, so it runs in a worker.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from simpul.shared.indonesian import WIB, decimal, integer, long_date, long_datetime, rupiah
from simpul.signatures.fonts import BOLD, REGULAR, Face, face

__all__ = ["WIB", "DocumentContent", "Initial", "NamedOfficial", "RenderedDocument", "flatten_fields",
           "format_datetime", "format_value", "render"]

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
    """A year: its key says so, or its bounds are those of years (within 1900..2200)."""
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
    properties = schema.get("properties")
    found = properties.get(key) if isinstance(properties, dict) else None
    return found if isinstance(found, dict) else {}


def _label(schema: dict[str, Any], key: str) -> str:
    title = schema.get("title")
    return title if isinstance(title, str) and title.strip() else humanise_key(key)


def flatten_fields(data: dict[str, Any], schema: dict[str, Any] | None = None,
                   prefix: str = "") -> list[tuple[str, str]]:
    """Nested objects and lists become one line each, labelled by their path of schema titles
    (the key in words where the schema has none)."""
    schema = schema if isinstance(schema, dict) else {}
    lines: list[tuple[str, str]] = []
    for key, value in data.items():
        described = _property(schema, str(key))
        label = f"{prefix}{_label(described, str(key))}"
        items = described.get("items") if isinstance(described.get("items"), dict) else {}
        if isinstance(value, dict):
            lines.extend(flatten_fields(value, described, f"{label} · "))
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
            lines.append((label, format_value(value, described, str(key))))
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


@dataclass
class _Element:
    """One structure element: its role, and its marked sequences as (page index, MCID)."""

    role: bytes
    alt: str | None = None
    parts: list[tuple[int, int]] = field(default_factory=list)


class _Page:
    def __init__(self) -> None:
        self.ops: list[bytes] = []
        # The element of each marked sequence on the page, by MCID: the page's parent tree entry.
        self.marked: list[_Element] = []


class _Layout:
    """A cursor running down the pages; `y` is measured from the top of the page."""

    def __init__(self) -> None:
        self.regular = face(REGULAR)
        self.bold = face(BOLD)
        self.pages: list[_Page] = []
        self.elements: list[_Element] = []  # in reading order
        self.open: _Element | None = None
        self.new_page()

    def new_page(self) -> None:
        element = self.open
        if element is not None:
            self.end()
        self.pages.append(_Page())
        self.y = MARGIN
        if element is not None:  # an element running over the break goes on on the new page
            self._mark(element)

    def begin(self, role: str, alt: str | None = None) -> None:
        """What is drawn until `end()` is one structure element of `role`."""
        element = _Element(role.encode("ascii"), alt)
        self.elements.append(element)
        self._mark(element)

    def _mark(self, element: _Element) -> None:
        mcid = len(self.page.marked)
        self.page.marked.append(element)
        element.parts.append((len(self.pages) - 1, mcid))
        self.page.ops.append(b"/%s <</MCID %d>> BDC" % (element.role, mcid))
        self.open = element

    def end(self) -> None:
        self.page.ops.append(b"EMC")
        self.open = None

    @staticmethod
    def artifact(page: _Page, operations: bytes) -> None:
        """Drawn, but not content for assistive technology: rules, page numbers."""
        page.ops.append(b"/Artifact BMC " + operations + b" EMC")

    @property
    def page(self) -> _Page:
        return self.pages[-1]

    def ensure(self, height: float) -> None:
        if self.y + height > PAGE_HEIGHT - MARGIN:
            self.new_page()

    def text_operations(self, x: float, y: float, text: str, font: Face, size: float, grey: float = 0.0) -> bytes:
        name = b"/F2" if font is self.bold else b"/F1"
        baseline = PAGE_HEIGHT - y - size * font.ascent / 1000
        return b"BT %.3f g %s %.2f Tf 1 0 0 1 %.2f %.2f Tm %s Tj ET" % (grey, name, size, x, baseline, font.encode(text))

    def text(self, x: float, y: float, text: str, font: Face, size: float, grey: float = 0.0) -> None:
        self.page.ops.append(self.text_operations(x, y, text, font, size, grey))

    def rule(self, y: float, width: float = 0.6) -> None:
        line_y = PAGE_HEIGHT - y
        self.artifact(self.page, b"%.2f w 0 G %.2f %.2f m %.2f %.2f l S"
                      % (width, MARGIN, line_y, PAGE_WIDTH - MARGIN, line_y))

    def paragraph(self, text: str, font: Face, size: float, *, x: float = MARGIN, width: float = CONTENT_WIDTH,
                  leading: float = 1.35, centred: bool = False, grey: float = 0.0, role: str = "P") -> None:
        self.ensure(size * leading)
        self.begin(role)
        for line in wrap(text, font, size, width):
            self.ensure(size * leading)
            left = x + (width - font.width(line, size)) / 2 if centred else x
            self.text(left, self.y, line, font, size, grey)
            self.y += size * leading
        self.end()

    def row(self, label: str, value: str, size: float = 10.0) -> None:
        leading = size * 1.35
        value_x = MARGIN + LABEL_WIDTH
        label_lines = wrap(label, self.regular, size, LABEL_WIDTH - 12)
        value_lines = wrap(value, self.bold, size, CONTENT_WIDTH - LABEL_WIDTH)
        # Two paragraphs, the label first (read with a pause before the value): the label is kept
        # on one page, a long value may go on over the break.
        self.ensure(leading * len(label_lines))
        top, page = self.y, self.page
        self.begin("P")
        for line in label_lines:
            self.text(MARGIN, self.y, line, self.regular, size, grey=0.25)
            self.y += leading
        self.end()
        label_bottom, self.y = self.y, top
        self.begin("P")
        for line in value_lines:
            self.ensure(leading)
            self.text(value_x, self.y, line, self.bold, size)
            self.y += leading
        self.end()
        if self.page is page:
            self.y = max(self.y, label_bottom)
        self.y += 2

    def heading(self, text: str) -> None:
        self.ensure(40)
        self.y += 10
        self.begin("H2")
        self.text(MARGIN, self.y, text, self.bold, 11)
        self.end()
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
        self.begin("Figure", alt=f"Kode QR menuju halaman verifikasi dokumen ini: {content}")
        self.page.ops.append(b"0 g " + b" ".join(squares) + b" f")
        self.end()


def render(content: DocumentContent) -> RenderedDocument:
    layout = _Layout()
    regular, bold = layout.regular, layout.bold

    layout.paragraph("SIMPUL · PELAYANAN TERPADU SATU PINTU", bold, 9, grey=0.3, leading=13 / 9)
    layout.paragraph(f"Unit kerja penerbit: {content.issuing_unit}", regular, 9, grey=0.3, leading=16 / 9)
    layout.rule(layout.y, 1.2)
    layout.y += 22

    layout.paragraph(content.title.upper(), bold, 14, centred=True, leading=1.3, role="H1")
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
    # The closing block sits at the foot of the last page. The signer is named once, above the
    # stamp: the stamp pyHanko draws in the box only adds the signing time.
    top = PAGE_HEIGHT - MARGIN - CLOSING_HEIGHT
    layout.qr(MARGIN, top + 4, QR_SIZE, content.verify_url)
    caption_x = MARGIN + QR_SIZE + 12
    caption_width = PAGE_WIDTH - MARGIN - STAMP_WIDTH - caption_x - 12
    layout.y = top + 4
    layout.paragraph("Pindai kode QR untuk memeriksa keaslian dan status dokumen ini:", regular, 8,
                     x=caption_x, width=caption_width, grey=0.2)
    layout.paragraph(content.verify_url, regular, 7, x=caption_x, width=caption_width, grey=0.2)

    stamp_left = PAGE_WIDTH - MARGIN - STAMP_WIDTH
    layout.begin("P")
    layout.text(stamp_left, top - 10, f"Ditandatangani secara elektronik oleh {content.signer_name}", regular, 7.5,
                grey=0.2)
    layout.end()
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
        layout.artifact(page, layout.text_operations(PAGE_WIDTH - MARGIN - regular.width(label, 7),
                                                     PAGE_HEIGHT - MARGIN + 14, label, regular, 7, grey=0.35))
    return RenderedDocument(
        pdf=_write(layout, content),
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


def _structure(layout: _Layout, first: int, page_number: Any) -> list[bytes]:
    """The structure tree, objects first .. : its root, the Document element, the parent tree
    (each page's MCIDs to their elements), then one object per element in reading order."""
    root, document, parent_tree, elements = first, first + 1, first + 2, first + 3
    number = {id(element): elements + index for index, element in enumerate(layout.elements)}
    kids = b" ".join(b"%d 0 R" % number[id(element)] for element in layout.elements)
    nums = b" ".join(
        b"%d [%s]" % (index, b" ".join(b"%d 0 R" % number[id(element)] for element in page.marked))
        for index, page in enumerate(layout.pages)
    )
    objects = [
        b"<< /Type /StructTreeRoot /K [%d 0 R] /ParentTree %d 0 R /ParentTreeNextKey %d >>"
        % (document, parent_tree, len(layout.pages)),
        b"<< /Type /StructElem /S /Document /P %d 0 R /K [%s] >>" % (root, kids),
        b"<< /Nums [%s] >>" % nums,
    ]
    for element in layout.elements:
        marked = b" ".join(b"<< /Type /MCR /Pg %d 0 R /MCID %d >>" % (page_number(page), mcid)
                           for page, mcid in element.parts)
        alt = b" /Alt %s" % _pdf_text(element.alt) if element.alt else b""
        objects.append(b"<< /Type /StructElem /S /%s /P %d 0 R /Pg %d 0 R /K [%s]%s >>"
                       % (element.role, document, page_number(element.parts[0][0]), marked, alt))
    return objects


def _write(layout: _Layout, content: DocumentContent) -> bytes:
    # Fixed numbering: 1 catalog, 2 page tree, 3 info, 4-8 regular font, 9-13 bold font,
    # then a page object and its content stream per page, then the structure tree.
    pages = layout.pages
    first_page = 14
    structure = first_page + 2 * len(pages)
    page_refs = b" ".join(b"%d 0 R" % (first_page + 2 * index) for index in range(len(pages)))
    objects: list[bytes] = [
        # Tagged, in Indonesian; viewers show the title, not the file name.
        b"<< /Type /Catalog /Pages 2 0 R /Lang (id-ID) /MarkInfo << /Marked true >> /StructTreeRoot %d 0 R "
        b"/ViewerPreferences << /DisplayDocTitle true >> >>" % structure,
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (page_refs, len(pages)),
        b"<< /Title %s /Subject %s /Author %s /Creator (Simpul) /Producer (Simpul signatures) "
        b"/CreationDate %s /ModDate %s >>"
        % (
            _pdf_text(f"{content.title} {content.number}"),
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
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R /StructParents %d "
            b"/Resources << /Font << /F1 4 0 R /F2 9 0 R >> >> >>" % (PAGE_WIDTH, PAGE_HEIGHT, number + 1, index)
        )
        objects.append(_stream(b"/Filter /FlateDecode", zlib.compress(b"\n".join(page.ops), 6)))
    objects.extend(_structure(layout, structure, lambda index: first_page + 2 * index))

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
