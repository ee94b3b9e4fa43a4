"""fpdf2 as the receipts use it: a tagged PDF in Indonesian.

What fpdf2 2.8 offers for accessibility, and what this adds:
- fpdf2: the document language (`/Lang`), the title in the metadata with `DisplayDocTitle`, and a
  structure tree (`/StructTreeRoot`, `/MarkInfo /Marked true`) for images with alt text
  (`/Figure`), links and outline sections (tagged as `/Figure` too).
- here: `tagged(role)` marks what is drawn inside it as one structure element of any standard
  role (`H1`, `P`, ...), and `artifact()` marks rules and the like as artifacts that readers
  skip. fpdf2's tree is flat (every element a child of `/Document`), so tables can't be nested
  as `Table/TR/TH/TD`: a label and its value are two `P`s.

The issued documents don't use fpdf2: it costs ~60 ms of CPU per document where their own writer
(simpul.signatures.document) takes ~3.5 ms (bench/document.py). A receipt is rendered on request.

Importing this module imports fpdf2 (~30 MB with fontTools and Pillow): callers import it where
they render, not at their module's top.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path

from fpdf import FPDF
from fpdf.prefs import ViewerPreferences

LANGUAGE = "id-ID"
# Tables a PDF viewer never reads from an embedded TrueType font. fpdf2 parses and subsets the
# font of every PDF it writes; without these that is cheaper.
_UNUSED_TABLES = ("GPOS", "GSUB", "GDEF", "kern", "DSIG", "fpgm", "prep", "cvt ", "gasp", "hdmx", "LTSH", "VDMX")


@cache
def _font_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="simpul-fonts-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@cache
def lean_font(path: Path) -> Path:
    """`path` without the tables PDF viewers ignore, written once per process: what to give
    `add_font`. Every glyph stays."""
    from fontTools import ttLib

    font = ttLib.TTFont(path, recalcTimestamp=False)
    for tag in _UNUSED_TABLES:
        if tag in font:
            del font[tag]
    lean = _font_folder() / path.name
    # Two threads may make it at once the first time (`cache` does not hold them back): each writes
    # its own file and renames it into place, so a reader never opens a half-written font.
    partial = lean.with_name(f"{lean.name}.{threading.get_ident()}.partial")
    font.save(partial)
    os.replace(partial, lean)
    return lean


class TaggedPdf(FPDF):
    def __init__(self, *, title: str, created: datetime, family: str, unit: str = "mm", author: str | None = None,
                 subject: str | None = None) -> None:
        super().__init__(format="A4", unit=unit)
        # The font family the helpers below write in (added by the caller with add_font).
        self.family = family
        self.set_lang(LANGUAGE)
        self.set_title(title)
        # Viewers show the title, not the file name, in their window and to screen readers.
        self.viewer_preferences = ViewerPreferences(display_doc_title=True)
        self.set_creator("Simpul")
        self.set_producer("Simpul")
        self.set_creation_date(created)
        if author:
            self.set_author(author)
        if subject:
            self.set_subject(subject)

    @contextmanager
    def tagged(self, role: str, alt_text: str | None = None) -> Iterator[None]:
        """What is drawn inside becomes one structure element of `role`, on one page."""
        mcid = self.struct_builder.next_mcid_for_page(self.page)
        self._add_marked_content(struct_type=f"/{role}", mcid=mcid, alt_text=alt_text)
        page = self.page
        self._out(f"/{role} <</MCID {mcid}>> BDC")
        yield
        if self.page != page:
            raise RuntimeError(f"a tagged {role} ran over a page break: make room for it first")
        self._out("EMC")

    @contextmanager
    def artifact(self) -> Iterator[None]:
        """Running heads, page numbers, rules: drawn, but not content for assistive technology."""
        self._out("/Artifact BMC")
        yield
        self._out("EMC")

    def room_left(self) -> float:
        return self.h - self.b_margin - self.y

    def make_room(self, height: float) -> None:
        """A new page unless `height` fits on this one (tagged blocks never span a break)."""
        if height > self.room_left():
            self.add_page()

    def fits(self, texts: list[tuple[str, float, str]], height: float) -> bool:
        """Whether each (text, width, style) wrapped in its width fits in what is left of the page.
        A bound from the text's width decides most cases (a greedy wrap fills each line but the
        last to at least the width less the widest word); fpdf2 wraps for the exact count (a
        second layout of the text) only near the foot of the page."""
        lines = []
        for text, width, style in texts:
            self.set_font(self.family, style=style)
            words = text.split()
            widest = max((self.get_string_width(word) for word in words), default=0)
            usable = width - 2 * self.c_margin - widest
            if usable > width / 4:
                lines.append(sum(1 + int(self.get_string_width(part) / usable) for part in text.split("\n")))
                continue
            lines.append(len(self.multi_cell(width, height, text, align="L", dry_run=True, output="LINES")))
        if max(lines) * height <= self.room_left():
            return True
        exact = []
        for text, width, style in texts:
            self.set_font(self.family, style=style)
            exact.append(len(self.multi_cell(width, height, text, align="L", dry_run=True, output="LINES")))
        return max(exact) * height <= self.room_left()

    def paragraph(self, text: str, size: float, height: float, *, style: str = "", role: str = "P", grey: int = 0,
                  align: str = "L", x: float | None = None, width: float | None = None) -> None:
        """`text` wrapped in `width` (the rest of the line) at `x` (the left margin), `height` a line,
        as one structure element of `role` kept on one page."""
        x = self.l_margin if x is None else x
        width = self.w - self.r_margin - x if width is None else width
        self.set_font(self.family, style=style, size=size)
        self.set_text_color(grey)
        if not self.fits([(text, width, style)], height):
            self.add_page()
        self.set_x(x)
        with self.tagged(role):
            self.multi_cell(width, height, text, align=align, new_x="LEFT", new_y="NEXT")

    def row(self, label: str, value: str, size: float, height: float, *, label_width: float, gap: float = 0,
            value_style: str = "B", after: float = 0) -> None:
        """A label and its value side by side, as two paragraphs (read with a pause between them)."""
        left = self.l_margin
        value_width = self.w - self.r_margin - left - label_width
        self.set_font_size(size)
        if not self.fits([(label, label_width - gap, ""), (value, value_width, value_style)], height):
            self.add_page()
        top = self.y
        with self.tagged("P"):
            self.set_font(self.family, size=size)
            self.set_text_color(64)
            self.set_xy(left, top)
            self.multi_cell(label_width - gap, height, label, align="L", new_x="LEFT", new_y="NEXT")
        below_label = self.y
        with self.tagged("P"):
            self.set_font(self.family, style=value_style, size=size)
            self.set_text_color(0)
            self.set_xy(left + label_width, top)
            self.multi_cell(value_width, height, value, align="L", new_x="LEFT", new_y="NEXT")
        self.set_xy(left, max(below_label, self.y) + after)

    def rule(self, width: float) -> None:
        """A line across the text width at the cursor, as an artifact."""
        with self.artifact():
            self.set_line_width(width)
            self.line(self.l_margin, self.y, self.w - self.r_margin, self.y)
