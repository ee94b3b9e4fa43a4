"""The output PDF: readable text in Indonesian, the QR code, layout over several pages."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest

from simpul.signatures.document import PAGE_WIDTH, flatten_fields, format_datetime, format_value, render, wrap
from simpul.signatures.fonts import BOLD, REGULAR, face


def pdftotext(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_values_print_the_indonesian_way():
    assert format_value(1500000000) == "1.500.000.000"
    assert format_value(2.5) == "2,5"
    assert format_value(1234.5) == "1.234,5"
    assert format_value(True) == "Ya" and format_value(False) == "Tidak"
    assert format_value(None) == "-"
    assert format_value("2026-12-01") == "1 Desember 2026"
    assert format_value("wakil_gubernur") == "Wakil gubernur"
    assert format_value("Jl. Medan Merdeka Utara No. 7") == "Jl. Medan Merdeka Utara No. 7"
    assert format_datetime(datetime(2026, 11, 23, 17, 5, tzinfo=UTC)) == "24 November 2026 pukul 00.05 WIB"


def test_nested_data_becomes_labelled_lines():
    lines = flatten_fields({
        "negara_tujuan": "Jepang",
        "kontak": {"nama": "Budi", "telepon": "+62 812"},
        "anggota": [{"nama": "A"}, {"nama": "B"}],
        "kode": ["31", "32"],
    })
    assert lines == [
        ("Negara tujuan", "Jepang"),
        ("Kontak · Nama", "Budi"),
        ("Kontak · Telepon", "+62 812"),
        ("Anggota 1 · Nama", "A"),
        ("Anggota 2 · Nama", "B"),
        ("Kode", "31, 32"),
    ]


def test_wrap_respects_width_and_breaks_long_words():
    font = face(REGULAR)
    lines = wrap("kata " * 60 + "x" * 300, font, 10, 200)
    assert len(lines) > 5
    assert all(font.width(line, 10) <= 200 for line in lines)
    assert "".join(lines).replace(" ", "").endswith("x" * 300)


def test_text_is_extractable_with_its_accents(make_content, tmp_path):
    rendered = render(make_content())
    path = tmp_path / "document.pdf"
    path.write_bytes(rendered.pdf)
    text = pdftotext(path)
    for expected in (
        "SURAT IZIN PERJALANAN KE LUAR NEGERI",
        "Nomor: 000042/KDN-PFK/IZIN-LN-KDH/2026",
        "Pemerintah Provinsi DKI Jakarta",
        "Dr. Siti Nurhaliza Đặng",
        "1 Desember 2026",
        "12.500",
        "Harap melapor sepulang perjalanan.",
        "23 November 2026 pukul 10.30 WIB",
        "Ditandatangani secara elektronik oleh Simpul KDN-PFK",
    ):
        assert expected in text, expected
    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    assert "Lato-Regular" in fonts and "Lato-Bold" in fonts
    assert fonts.count(" yes ") >= 2  # embedded


def test_qr_code_holds_the_verify_url(make_content, tmp_path):
    rendered = render(make_content())
    (tmp_path / "document.pdf").write_bytes(rendered.pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", str(rendered.signature_page + 1),
                    "-l", str(rendered.signature_page + 1), str(tmp_path / "document.pdf"), str(tmp_path / "page")],
                   check=True)
    image = next(tmp_path.glob("page*.png"))
    decoded = subprocess.run(["zbarimg", "-q", "--raw", str(image)], capture_output=True, text=True).stdout.strip()
    assert decoded == make_content().verify_url


def test_many_fields_flow_onto_more_pages(make_content, tmp_path):
    fields = tuple((f"Rincian {index}", "nilai " * 12) for index in range(90))
    rendered = render(make_content(fields=fields))
    path = tmp_path / "long.pdf"
    path.write_bytes(rendered.pdf)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 3
    assert rendered.signature_page == pages - 1
    left, bottom, right, top = rendered.signature_box
    assert 0 < left < right <= PAGE_WIDTH and 0 < bottom < top
    text = pdftotext(path)
    assert "Rincian 89" in text
    for page in range(1, pages + 1):
        assert f"Halaman {page} dari {pages}" in text


def test_characters_outside_the_font_degrade_gracefully():
    font = face(BOLD)
    assert font.glyphs("ŉ") and font.glyphs("中") == font.glyphs("?")


@pytest.mark.parametrize("style", [REGULAR, BOLD])
def test_faces_are_prepared_once(style):
    assert face(style) is face(style)
    assert len(face(style).widths) > 300
