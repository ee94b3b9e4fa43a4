"""The catalogue as pages people read: the list with search and filters, and each standard in
full, laid out by the 14 components of PermenPANRB 15/2014. Rendering only; the data comes from
the same Catalogue use cases as the JSON answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simpul.shared.pages import Pages

# (component number, its name, the field of the standard that holds it): the order of the
# regulation's annex, service delivery (1-6) first, then management inside the unit (7-14).
COMPONENTS = (
    (1, "requirements"), (2, "procedure"), (3, "sla"), (4, "fee"), (5, "output"), (6, "complaints"),
    (7, "legal_basis"), (8, "facilities"), (9, "staff_competence"), (10, "internal_supervision"),
    (11, "number_of_staff"), (12, "service_guarantee"), (13, "security_guarantee"), (14, "performance_evaluation"),
)

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "list_title": "Katalog layanan",
        "list_intro": "Standar pelayanan yang berlaku: persyaratan, prosedur, waktu, biaya dan cara menyampaikan pengaduan.",
        "search": "Cari layanan",
        "unit": "Unit pengelola",
        "category": "Kategori",
        "any": "Semua",
        "apply": "Tampilkan",
        "found": "layanan ditemukan",
        "none_found": "Tidak ada layanan yang cocok dengan pencarian ini.",
        "next_page": "Halaman berikutnya",
        "days": "hari kerja",
        "free": "Tidak dipungut biaya",
        "time": "Waktu penyelesaian",
        "cost": "Biaya",
        "code": "Kode layanan",
        "version": "Versi standar",
        "published": "Berlaku sejak",
        "standard_title": "Standar pelayanan",
        "components_intro": "Komponen standar pelayanan menurut Peraturan Menteri PANRB Nomor 15 Tahun 2014.",
        "delivery": "Komponen penyampaian pelayanan",
        "management": "Komponen pengelolaan pelayanan",
        "requirements": "Persyaratan",
        "procedure": "Sistem, mekanisme dan prosedur",
        "sla": "Jangka waktu pelayanan",
        "fee": "Biaya/tarif",
        "output": "Produk pelayanan",
        "complaints": "Penanganan pengaduan, saran dan masukan",
        "legal_basis": "Dasar hukum",
        "facilities": "Sarana, prasarana dan/atau fasilitas",
        "staff_competence": "Kompetensi pelaksana",
        "internal_supervision": "Pengawasan internal",
        "number_of_staff": "Jumlah pelaksana",
        "service_guarantee": "Jaminan pelayanan",
        "security_guarantee": "Jaminan keamanan dan keselamatan pelayanan",
        "performance_evaluation": "Evaluasi kinerja pelaksana",
        "document": "Dokumen",
        "mandatory": "Wajib",
        "optional": "Tidak wajib",
        "formats": "Format",
        "max_size": "Ukuran paling besar",
        "step": "Langkah",
        "actor": "Pelaksana",
        "step_time": "Waktu",
        "sla_text": "Paling lama {days} hari kerja sejak permohonan lengkap diajukan, tidak termasuk akhir pekan dan hari libur nasional.",
        "fee_basis": "Dasar pengenaan",
        "validity": "Masa berlaku",
        "channel": "Saluran",
        "contact": "Kontak",
        "performance_link": "Kinerja dan kepuasan untuk layanan ini",
        "print_hint": "Halaman ini dapat dicetak; menu dan formulir tidak ikut tercetak.",
    },
    "en": {
        "list_title": "Service catalogue",
        "list_intro": "The service standards in force: requirements, procedure, time, cost and how to complain.",
        "search": "Search services",
        "unit": "Responsible unit",
        "category": "Category",
        "any": "All",
        "apply": "Show",
        "found": "services found",
        "none_found": "No service matches this search.",
        "next_page": "Next page",
        "days": "working days",
        "free": "Free of charge",
        "time": "Completion time",
        "cost": "Cost",
        "code": "Service code",
        "version": "Standard version",
        "published": "In force since",
        "standard_title": "Service standard",
        "components_intro": "Components of the service standard under Minister of Administrative Reform Regulation 15 of 2014.",
        "delivery": "Service delivery components",
        "management": "Service management components",
        "requirements": "Requirements",
        "procedure": "System, mechanism and procedure",
        "sla": "Completion time",
        "fee": "Cost/tariff",
        "output": "Service product",
        "complaints": "Complaints, suggestions and feedback",
        "legal_basis": "Legal basis",
        "facilities": "Facilities and infrastructure",
        "staff_competence": "Staff competence",
        "internal_supervision": "Internal supervision",
        "number_of_staff": "Number of staff",
        "service_guarantee": "Service guarantee",
        "security_guarantee": "Security and safety guarantee",
        "performance_evaluation": "Staff performance evaluation",
        "document": "Document",
        "mandatory": "Required",
        "optional": "Optional",
        "formats": "Formats",
        "max_size": "Largest size",
        "step": "Step",
        "actor": "Carried out by",
        "step_time": "Time",
        "sla_text": "At most {days} working days from the complete application, weekends and national holidays excluded.",
        "fee_basis": "Basis",
        "validity": "Validity",
        "channel": "Channel",
        "contact": "Contact",
        "performance_link": "Performance and satisfaction for this service",
        "print_hint": "This page can be printed; menus and forms are left out.",
    },
}

FORMAT_NAMES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}

pages = Pages(Path(__file__).parent / "templates", TEXTS)


def size(max_bytes: int) -> str:
    megabytes = max_bytes / (1024 * 1024)
    return f"{megabytes:g} MB" if megabytes >= 1 else f"{max_bytes // 1024} KB"


def formats(content_types: list[str]) -> str:
    return ", ".join(FORMAT_NAMES.get(kind, kind) for kind in content_types)


def display_name(service: dict[str, Any], language: str) -> str:
    return (service.get("name_en") or service["name"]) if language == "en" else service["name"]


pages.environment.filters.update(size=size, formats=formats)
pages.environment.globals.update(display_name=display_name, components=COMPONENTS)
