"""Public pages of the submissions service: tracking by code, and the performance and
satisfaction reports with their charts. Rendering only; the figures come from the same use
cases as the JSON answers. Charts are SVG drawn here, each followed by a table with the same
figures, so nothing is said by a picture (or a colour) alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request

from simpul.shared.pages import Pages, number, page_language

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "track_title": "Status permohonan",
        "code": "Kode pelacakan",
        "service": "Layanan",
        "status": "Status",
        "submitted_at": "Diajukan",
        "due_at": "Target selesai",
        "updated_at": "Perubahan terakhir",
        "progress": "Tahapan",
        "done": "selesai",
        "current": "sedang berjalan",
        "pending": "belum",
        "next": "Yang perlu Anda lakukan",
        "sla": "Waktu layanan",
        "privacy": "Halaman ini tidak memuat data pribadi pemohon.",
        "performance_title": "Kinerja layanan",
        "ikm_title": "Indeks Kepuasan Masyarakat",
        "period": "Periode",
        "from": "Dari tanggal",
        "to": "Sampai tanggal",
        "unit": "Unit",
        "service_code": "Kode layanan",
        "apply": "Tampilkan",
        "all_services": "Semua layanan",
        "received": "Diterima",
        "completed": "Selesai",
        "median": "Median waktu penyelesaian (hari kerja)",
        "within_sla": "Selesai tepat waktu",
        "overdue_now": "Terlambat saat ini",
        "complaints": "Pengaduan diterima",
        "complaints_resolved": "Pengaduan selesai",
        "fees_collected": "Biaya terkumpul",
        "payments": "pembayaran",
        "ikm": "IKM",
        "grade": "Mutu",
        "respondents": "Responden",
        "sla_chart": "Persentase permohonan yang selesai tepat waktu, per layanan",
        "ikm_chart": "Nilai IKM per layanan (25–100)",
        "elements_chart": "Nilai rata-rata per unsur (1–4)",
        "element": "Unsur",
        "mean": "Rata-rata",
        "no_data": "Belum ada data pada periode ini.",
        "too_few": "Responden belum mencapai jumlah minimum ({minimum}); nilai IKM belum diterbitkan.",
        "generated": "Dihitung pada",
        "ikm_note": "IKM dihitung menurut Peraturan Menteri PANRB Nomor 14 Tahun 2017 dari sembilan unsur survei.",
        "chart_text": "Angka yang sama ada pada tabel di bawah grafik.",
        "per_service": "Rincian per layanan",
    },
    "en": {
        "track_title": "Application status",
        "code": "Tracking code",
        "service": "Service",
        "status": "Status",
        "submitted_at": "Submitted",
        "due_at": "Due",
        "updated_at": "Last change",
        "progress": "Progress",
        "done": "done",
        "current": "in progress",
        "pending": "not yet",
        "next": "What you should do",
        "sla": "Service time",
        "privacy": "This page holds no personal data of the applicant.",
        "performance_title": "Service performance",
        "ikm_title": "Public Satisfaction Index",
        "period": "Period",
        "from": "From",
        "to": "To",
        "unit": "Unit",
        "service_code": "Service code",
        "apply": "Show",
        "all_services": "All services",
        "received": "Received",
        "completed": "Completed",
        "median": "Median completion time (working days)",
        "within_sla": "Completed on time",
        "overdue_now": "Overdue now",
        "complaints": "Complaints received",
        "complaints_resolved": "Complaints resolved",
        "fees_collected": "Fees collected",
        "payments": "payments",
        "ikm": "IKM",
        "grade": "Grade",
        "respondents": "Respondents",
        "sla_chart": "Share of applications completed on time, per service",
        "ikm_chart": "IKM per service (25–100)",
        "elements_chart": "Mean score per element (1–4)",
        "element": "Element",
        "mean": "Mean",
        "no_data": "No data in this period yet.",
        "too_few": "Fewer respondents than the minimum ({minimum}); the IKM is not published yet.",
        "generated": "Computed at",
        "ikm_note": "The IKM follows Minister of Administrative Reform Regulation 14 of 2017, from the nine survey elements.",
        "chart_text": "The same figures are in the table below the chart.",
        "per_service": "Figures per service",
    },
}

STATUS_NAMES = {
    "id": {"draft": "Konsep (belum diajukan)", "submitted": "Diajukan", "in_review": "Sedang diperiksa",
           "revision_requested": "Perlu perbaikan", "approved": "Disetujui", "issued": "Dokumen telah terbit",
           "rejected": "Ditolak", "cancelled": "Dibatalkan"},
    "en": {"draft": "Draft (not submitted)", "submitted": "Submitted", "in_review": "Under review",
           "revision_requested": "Revision needed", "approved": "Approved", "issued": "Document issued",
           "rejected": "Rejected", "cancelled": "Cancelled"},
}
NEXT_STEP = {
    "id": {
        "draft": "Lengkapi dokumen persyaratan lalu ajukan permohonan melalui aplikasi yang Anda gunakan.",
        "submitted": "Tidak ada yang perlu Anda lakukan. Petugas akan mulai memeriksa permohonan Anda.",
        "in_review": "Tidak ada yang perlu Anda lakukan. Permohonan sedang diperiksa petugas.",
        "revision_requested": "Baca catatan petugas di surel atau aplikasi Anda, perbaiki permohonan, lalu ajukan kembali. "
                              "Waktu layanan berhenti sampai Anda mengajukan kembali.",
        "approved": "Tidak ada yang perlu Anda lakukan. Dokumen sedang ditandatangani dan segera terbit.",
        "issued": "Unduh dokumen dari tautan di surel atau aplikasi Anda. Keasliannya dapat diperiksa lewat kode QR pada dokumen. "
                  "Mohon isi survei kepuasan.",
        "rejected": "Baca alasan penolakan di surel atau aplikasi Anda. Bila tidak sependapat, sampaikan pengaduan "
                    "melalui saluran pengaduan layanan ini.",
        "cancelled": "Permohonan ini dibatalkan. Ajukan permohonan baru bila masih diperlukan.",
    },
    "en": {
        "draft": "Upload the required documents, then submit the application in the app you use.",
        "submitted": "Nothing to do. An officer will start reviewing your application.",
        "in_review": "Nothing to do. An officer is reviewing your application.",
        "revision_requested": "Read the officer's note in your email or app, correct the application and submit it again. "
                              "The service clock stops until you do.",
        "approved": "Nothing to do. The document is being signed and will be issued shortly.",
        "issued": "Download the document from the link in your email or app. Its QR code lets anyone check it is genuine. "
                  "Please give the satisfaction survey.",
        "rejected": "Read the reasons in your email or app. If you disagree, file a complaint through this service's "
                    "complaint channels.",
        "cancelled": "This application was cancelled. Make a new one if you still need the service.",
    },
}
# The milestones of the usual path; a rejection or a revision request replaces the later ones.
MILESTONES = ("submitted", "in_review", "approved", "issued")
PROGRESS = {
    "draft": ((), "draft"),
    "submitted": (("submitted",), "in_review"),
    "in_review": (("submitted",), "in_review"),
    "revision_requested": (("submitted", "in_review"), "revision_requested"),
    "approved": (("submitted", "in_review", "approved"), "issued"),
    "issued": (("submitted", "in_review", "approved", "issued"), None),
    "rejected": (("submitted", "in_review", "rejected"), None),
    "cancelled": (("cancelled",), None),
}

# The same URLs answer JSON or HTML, in either language: caches keep them apart.
VARY = "Accept, Accept-Language"
TONES = {"issued": "ok", "approved": "ok", "rejected": "bad", "cancelled": "bad", "revision_requested": "warn"}

pages = Pages(Path(__file__).parent / "templates", TEXTS)


def progress(status: str, language: str) -> list[dict[str, str]]:
    """The milestones with their state in words: done, in progress, not yet."""
    done, current = PROGRESS[status]
    steps = [{"name": STATUS_NAMES[language][name], "state": "done"} for name in done]
    if current is not None:
        steps.append({"name": STATUS_NAMES[language][current], "state": "current"})
        later = MILESTONES[MILESTONES.index(current) + 1:] if current in MILESTONES else ()
        steps += [{"name": STATUS_NAMES[language][name], "state": "pending"} for name in later]
    return steps


def sla_words(tracking: dict[str, Any], language: str) -> str:
    """The SLA as a sentence: how many working days, on time or late, paused or not."""
    days = tracking.get("sla_working_days")
    status = tracking["status"]
    english = language == "en"
    if status in ("draft", "cancelled") or not tracking.get("due_at"):
        return (f"The service takes at most {days} working days from submission." if english
                else f"Layanan ini paling lama {days} hari kerja sejak permohonan diajukan.")
    if status in ("approved", "issued", "rejected"):
        # The last change is the decision (or the issue that follows an approval at once).
        if _moment(tracking["updated_at"]) <= _moment(tracking["due_at"]):
            return "Decided within the service time." if english else "Diputuskan dalam waktu layanan."
        return ("Decided after the due date." if english
                else "Diputuskan setelah target selesai terlewati.")
    if tracking.get("paused"):
        return ("The clock is stopped while the application waits for your correction; the due date moves by those days."
                if english else
                "Waktu layanan dihentikan sementara menunggu perbaikan dari Anda; target selesai bergeser sebanyak hari itu.")
    if tracking.get("overdue"):
        return ("Past the due date: the unit has not kept the service time. You may file a complaint."
                if english else
                "Melewati target selesai: unit belum menepati waktu layanan. Anda dapat menyampaikan pengaduan.")
    return (f"On time: at most {days} working days, weekends and national holidays excluded." if english
            else f"Sesuai jadwal: paling lama {days} hari kerja, tidak termasuk akhir pekan dan hari libur nasional.")


def _moment(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str


@dataclass(frozen=True)
class Chart:
    """A bar chart laid out for SVG: per bar its label on one line, the bar and its value below,
    narrow enough that the text stays legible when a phone scales the drawing down."""

    rows: list[dict[str, Any]]
    height: int
    width: int = 420
    bar_area: int = 320


def bar_chart(bars: list[Bar], maximum: float) -> Chart:
    row_height = 46
    chart = Chart(rows=[], height=row_height * len(bars) + 4)
    for index, bar in enumerate(bars):
        length = 0 if maximum <= 0 else max(0.0, min(bar.value / maximum, 1.0)) * chart.bar_area
        chart.rows.append({"y": index * row_height, "label": bar.label, "length": round(length, 1), "text": bar.text})
    return chart


def sla_chart(report: dict[str, Any], language: str) -> Chart | None:
    bars = [Bar(row["service_code"], row["completed_within_sla_share"], f"{number(row['completed_within_sla_share'] * 100, language, 1)}%")
            for row in report["services"] if row["completed_within_sla_share"] is not None]
    return bar_chart(bars, 1.0) if bars else None


def ikm_chart(rows: list[dict[str, Any]], language: str) -> Chart | None:
    bars = [Bar(row["service_code"], row["ikm"], f"{number(row['ikm'], language, 2)} ({row['grade']})")
            for row in rows if row.get("ikm") is not None]
    return bar_chart(bars, 100.0) if bars else None


def elements_chart(ikm: dict[str, Any], language: str) -> Chart | None:
    if not ikm.get("elements"):
        return None
    return bar_chart([Bar(element["name"], element["mean"], number(element["mean"], language, 2))
                      for element in ikm["elements"]], 4.0)


def tracking_context(tracking: dict[str, Any], request: Request) -> dict[str, Any]:
    language = page_language(request)
    tone = "bad" if tracking.get("overdue") else TONES.get(tracking["status"], "")
    return {"steps": progress(tracking["status"], language), "sla": sla_words(tracking, language), "tone": tone}


pages.environment.globals.update(status_names=STATUS_NAMES, next_step=NEXT_STEP)
