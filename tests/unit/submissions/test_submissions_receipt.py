"""The receipt PDF as a person and a screen reader get it: Indonesian dates in WIB, rupiah with
dots, the unit by name, tagged with its language and title; page images kept to look at."""

from __future__ import annotations

from datetime import UTC, datetime

from simpul.submissions.receipt import receipt_pdf
from tests.support.pdf import info, page_images, structure, words

TRACK_URL = "https://simpul.example.go.id/v1/track/SPL7K3MQ9XZ2"


def row(**overrides):
    values = {
        "receipt_number": "KEUDA/2026/000017",
        "tracking_code": "SPL7K3MQ9XZ2",
        "service_name": "Pertimbangan Rencana Pinjaman Daerah",
        "service_code": "REKOM-PINJAMAN-DAERAH",
        "service_version": 2,
        "unit": "KEUDA",
        "tenant": "16.71",
        "applicant": {"name": "Pemerintah Kota Palembang", "agency": "BPKAD", "email": "bpkad@palembang.go.id"},
        "submitted_at": datetime(2026, 12, 3, 7, 5, tzinfo=UTC),
        "due_at": datetime(2026, 12, 17, 16, 59, 59, tzinfo=UTC),
        "receipt_issued_at": datetime(2026, 12, 3, 7, 5, tzinfo=UTC),
        "sla_working_days": 10,
        "standard": {
            "unit_name": "Direktorat Jenderal Bina Keuangan Daerah, Kementerian Dalam Negeri",
            "fee": {"amount": 1_500_000, "currency": "IDR", "legal_basis": "PP 56/2018 tentang Pinjaman Daerah"},
        },
    }
    values.update(overrides)
    return values


def test_the_receipt_reads_as_indonesians_write_it(tmp_path_factory):
    folder = tmp_path_factory.mktemp("receipt-pages")
    pdf = receipt_pdf(row(), TRACK_URL)
    text = words(pdf, folder, "receipt")
    for expected in (
        "TANDA TERIMA PERMOHONAN", "Nomor tanda terima KEUDA/2026/000017", "Kode pelacakan SPL7 K3MQ 9XZ2",
        "Unit pelaksana Direktorat Jenderal Bina Keuangan Daerah, Kementerian Dalam Negeri",
        "Diajukan 3 Desember 2026 pukul 14.05 WIB", "Biaya Rp 1.500.000",
        "Batas waktu penyelesaian 17 Desember 2026 pukul 23.59 WIB (10 hari kerja)", TRACK_URL,
    ):
        assert expected in text, expected
    for wrong in ("UTC", "03-12-2026", "(IDR)", "Unit pelaksana KEUDA", "1,500,000"):
        assert wrong not in text, wrong
    assert page_images(pdf, folder, "receipt")


def test_the_receipt_is_tagged_in_indonesian_with_its_title(tmp_path):
    pdf = receipt_pdf(row(), TRACK_URL)
    assert info(pdf, tmp_path)["Tagged"] == "yes"
    assert info(pdf, tmp_path)["Title"] == "Tanda terima permohonan KEUDA/2026/000017"
    assert b"/Lang (id-ID)" in pdf and b"/DisplayDocTitle true" in pdf
    tree = structure(pdf, tmp_path)
    assert 'H1 (block)\n    "TANDA TERIMA PERMOHONAN"' in tree
    assert "Figure" in tree and '"Pemohon"' in tree and '"Pemerintah Kota Palembang"' in tree


def test_a_free_service_and_a_unit_without_a_name(tmp_path):
    pdf = receipt_pdf(row(standard={"fee": {"amount": 0, "currency": "IDR", "legal_basis": None}}), TRACK_URL)
    text = words(pdf, tmp_path)
    assert "Biaya Tidak dipungut biaya" in text and "Unit pelaksana KEUDA" in text
