"""The typeface of issued documents, prepared once per process for direct embedding.

Lato (SIL Open Font License, from the pinned `fontpkg-lato` package) covers Latin with its
extensions, so Indonesian text and names with accents print as written. fpdf2 re-parses and
re-subsets a TrueType font for every document it writes (about 11 ms per face with fontTools);
here each face is cut down once to the characters a document may hold, and every document
embeds that same prepared font program, so writing a PDF costs no font work at all.
"""

from __future__ import annotations

import io
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fontpkg_lato import ROOT as LATO_ROOT

# Basic Latin, Latin-1, Latin Extended-A and B, Latin Extended Additional (Vietnamese and the
# like), and the punctuation and currency signs of ordinary prose.
UNICODE_RANGES = (
    (0x0020, 0x007E),
    (0x00A0, 0x024F),
    (0x1E00, 0x1EFF),
    (0x2010, 0x2027),
    (0x2030, 0x203A),
    (0x20AC, 0x20AC),
    (0x2116, 0x2116),
    (0x2122, 0x2122),
)
# Tables a PDF viewer never reads from an embedded TrueType font; dropping them first keeps the
# one-time subsetting to ~50 ms per face.
_UNUSED_TABLES = ("GPOS", "GSUB", "GDEF", "kern", "DSIG", "fpgm", "prep", "cvt ", "gasp", "hdmx", "LTSH", "VDMX")

REGULAR = "regular"
BOLD = "bold"
_FILES = {REGULAR: "Lato-Regular.ttf", BOLD: "Lato-Bold.ttf"}


@dataclass(frozen=True)
class Face:
    postscript_name: str
    font_program: bytes  # zlib-compressed TrueType program (FontFile2)
    program_length: int
    units_per_em: int
    widths: tuple[int, ...]  # advance width per glyph id, in 1/1000 em
    cmap: dict[int, int]  # code point -> glyph id
    ascent: int
    descent: int
    cap_height: int
    bbox: tuple[int, int, int, int]
    to_unicode: bytes  # zlib-compressed ToUnicode CMap

    def glyphs(self, text: str) -> list[int]:
        """Glyph ids for `text`; a character the face lacks falls back to its base letter or '?'."""
        result = []
        for char in unicodedata.normalize("NFC", text):
            gid = self.cmap.get(ord(char))
            if gid is None:
                base = unicodedata.normalize("NFKD", char)[:1]
                gid = self.cmap.get(ord(base)) if base else None
                if gid is None:
                    gid = self.cmap[ord("?")] if not char.isspace() else self.cmap[ord(" ")]
            result.append(gid)
        return result

    def width(self, text: str, size: float) -> float:
        return sum(self.widths[gid] for gid in self.glyphs(text)) * size / 1000

    def encode(self, text: str) -> bytes:
        """A PDF hex string of 2-byte glyph ids (Identity-H encoding)."""
        return b"<" + "".join(f"{gid:04X}" for gid in self.glyphs(text)).encode("ascii") + b">"


@cache
def face(style: str) -> Face:
    return _prepare(LATO_ROOT / "files" / _FILES[style])


def _prepare(path: Path) -> Face:
    # Imported here: only the signing workers prepare faces (the forkserver preloads fontTools
    # for them); the service's own process never needs it.
    from fontTools import subset, ttLib

    font = ttLib.TTFont(path, lazy=True)
    for tag in _UNUSED_TABLES:
        if tag in font:
            del font[tag]
    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.notdef_outline = True
    options.glyph_names = False
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[code for low, high in UNICODE_RANGES for code in range(low, high + 1)])
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    program = buffer.getvalue()

    # Read the metrics back from the subset itself, so glyph ids match the embedded program.
    font = ttLib.TTFont(io.BytesIO(program))
    units = font["head"].unitsPerEm
    scale = 1000 / units
    order = font.getGlyphOrder()
    metrics = font["hmtx"].metrics
    widths = tuple(round(metrics[name][0] * scale) for name in order)
    ids = {name: index for index, name in enumerate(order)}
    cmap = {code: ids[name] for code, name in font.getBestCmap().items()}
    os2 = font["OS/2"]
    head = font["head"]
    return Face(
        postscript_name=font["name"].getDebugName(6) or path.stem,
        font_program=zlib.compress(program, 6),
        program_length=len(program),
        units_per_em=units,
        widths=widths,
        cmap=cmap,
        ascent=round(os2.sTypoAscender * scale),
        descent=round(os2.sTypoDescender * scale),
        cap_height=round(getattr(os2, "sCapHeight", os2.sTypoAscender) * scale),
        bbox=tuple(round(value * scale) for value in (head.xMin, head.yMin, head.xMax, head.yMax)),
        to_unicode=zlib.compress(_to_unicode_cmap(cmap), 6),
    )


def _to_unicode_cmap(cmap: dict[int, int]) -> bytes:
    """Glyph id -> Unicode, so text can be searched and copied out of the PDF."""
    pairs = sorted({gid: code for code, gid in sorted(cmap.items(), reverse=True)}.items())
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(pairs), 100):
        chunk = pairs[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines.extend(f"<{gid:04X}> <{code:04X}>" for gid, code in chunk)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")
