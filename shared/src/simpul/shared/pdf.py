"""fpdf2 as the issued documents and the receipts use it: a tagged PDF in Indonesian.

What fpdf2 2.8 offers for accessibility, and what this adds:
- fpdf2: the document language (`/Lang`), the title in the metadata with `DisplayDocTitle`, and a
  structure tree (`/StructTreeRoot`, `/MarkInfo /Marked true`) for images with alt text
  (`/Figure`), links and outline sections (tagged as `/Figure` too).
- here: `tagged(role)` marks what is drawn inside it as one structure element of any standard
  role (`H1`, `H2`, `P`, `Figure` with alt text), and `artifact()` marks running heads, page
  numbers and rules as artifacts that readers skip. fpdf2's tree is flat (every element a child
  of `/Document`), so tables can't be nested as `Table/TR/TH/TD`: a label and its value are
  one `P`.

Importing this module imports fpdf2 (~30 MB with fontTools and Pillow): callers import it where
they render, not at their module's top.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from fpdf import FPDF
from fpdf.prefs import ViewerPreferences

LANGUAGE = "id-ID"


class TaggedPdf(FPDF):
    def __init__(self, *, title: str, created: datetime, unit: str = "mm", author: str | None = None,
                 subject: str | None = None) -> None:
        super().__init__(format="A4", unit=unit)
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
