"""Email templates: the defaults per event type and language, the context a template sees, and
rendering in Jinja2's sandbox (HTML autoescaped; subject and text are plain text)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import StrictUndefined, Template, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment

EVENT_TYPES = ("submission.submitted", "submission.status_changed", "submission.issued", "complaint.updated",
               "submission.issue_failed", "submission.step_assigned", "submission.step_overdue",
               "payment.billed", "payment.paid", "payment.expired", "payment.mismatch", "payment.awaited")
# Events for the unit's officers and the operators, never for applicants: no mail to the applicant,
# not in an applicant's inbox, no applicant webhook.
OFFICIAL_EVENT_TYPES = frozenset({"submission.issue_failed", "submission.step_assigned", "submission.step_overdue"})
LANGUAGES = ("id", "en")
PARTS = ("subject", "text", "html")

# Every field of the event contract, so a template may test any of them even when an event
# leaves it out (StrictUndefined then only catches misspelt names).
SUBMISSION_FIELDS = ("submission_id", "tracking_code", "service_code", "service_name", "service_version",
                     "unit", "tenant", "applicant", "from", "to", "note", "at", "due_at", "issued_documents",
                     "status", "reason", "failed_at", "attempts", "step", "assignee")
COMPLAINT_FIELDS = ("complaint_id", "submission_id", "service_code", "tenant", "unit", "category", "action", "from",
                    "status", "closed", "text", "response_due_at", "applicant", "at")

STATUS_LABELS = {
    "id": {
        "draft": "draf", "submitted": "diajukan", "in_review": "sedang diperiksa",
        "revision_requested": "perlu perbaikan", "approved": "disetujui", "issued": "dokumen terbit",
        "rejected": "ditolak", "cancelled": "dibatalkan",
        "open": "diterima", "in_progress": "sedang ditangani", "resolved": "selesai",
    },
    "en": {
        "draft": "draft", "submitted": "submitted", "in_review": "in review",
        "revision_requested": "revision requested", "approved": "approved", "issued": "issued",
        "rejected": "rejected", "cancelled": "cancelled",
        "open": "received", "in_progress": "in progress", "resolved": "resolved",
    },
}
MONTHS = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
           "Oktober", "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
}
# Times are shown in Western Indonesian Time, the zone of most applicants and of the capital.
WIB = timezone(timedelta(hours=7), "WIB")


@dataclass(frozen=True)
class Sources:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    text: str
    html: str

    def as_dict(self) -> dict[str, str]:
        return {"language": self.language, "subject": self.subject, "text": self.text, "html": self.html}


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


@pass_context
def _status_filter(context, value: Any) -> str:
    labels = STATUS_LABELS.get(context.get("language"), STATUS_LABELS["id"])
    return labels.get(value, str(value)) if value is not None else ""


@pass_context
def _datetime_filter(context, value: Any) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "" if value is None else str(value)
    local = moment.astimezone(WIB)
    month = MONTHS.get(context.get("language"), MONTHS["id"])[local.month - 1]
    return f"{local.day} {month} {local.year} {local:%H.%M} WIB"


@pass_context
def _date_filter(context, value: Any) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "" if value is None else str(value)
    local = moment.astimezone(WIB)
    month = MONTHS.get(context.get("language"), MONTHS["id"])[local.month - 1]
    return f"{local.day} {month} {local.year}"


def _rupiah_filter(value: Any) -> str:
    """An amount as Indonesians write it: Rp 150.000."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "" if value is None else str(value)
    return f"Rp {value:,}".replace(",", ".")


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined)
    environment.filters.update(status=_status_filter, datetime=_datetime_filter, date=_date_filter,
                               rupiah=_rupiah_filter)
    return environment


_PLAIN = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


@lru_cache(maxsize=256)
def _compiled(kind: str, source: str) -> Template:
    return (_HTML if kind == "html" else _PLAIN).from_string(source)


def compile_part(part: str, source: str) -> Template:
    """Raises jinja2.TemplateSyntaxError for a broken template."""
    return _compiled("html" if part == "html" else "plain", source)


def render(sources: Sources, context: dict[str, Any], language: str) -> Rendered:
    subject = compile_part("subject", sources.subject).render(context)
    # A subject is one header line, whatever the template's line breaks.
    subject = re.sub(r"\s+", " ", subject).strip()[:250]
    text = compile_part("text", sources.text).render(context)
    html = compile_part("html", sources.html).render(context)
    return Rendered(language=language, subject=subject, text=text, html=html)


def context_for(event_type: str, data: dict[str, Any], *, event_id: str, occurred_at: str, language: str,
                public_url: str) -> dict[str, Any]:
    fields = COMPLAINT_FIELDS if event_type.startswith("complaint.") else SUBMISSION_FIELDS
    context: dict[str, Any] = {name: data.get(name) for name in fields}
    context.update({key: value for key, value in data.items() if key not in context})
    applicant = data.get("applicant") if isinstance(data.get("applicant"), dict) else {}
    context["applicant"] = {"name": applicant.get("name"), "email": applicant.get("email"),
                            "language": applicant.get("language")}
    # `from` is a Jinja keyword; these names read better in templates anyway.
    context["from_status"] = data.get("from")
    context["to_status"] = data.get("to")
    context["issued_documents"] = data.get("issued_documents") or []
    tracking_code = data.get("tracking_code")
    # A browser opening this URL gets the tracking page (HTML), an API client the JSON.
    context["track_url"] = (f"{public_url.rstrip('/')}/v1/track/{quote(str(tracking_code), safe='')}"
                            if tracking_code else None)
    context["event"] = {"id": event_id, "type": event_type, "occurred_at": occurred_at}
    context["language"] = language
    return context


SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "submission.submitted": {
        "submission_id": "3f1c2a9e-0000-4000-8000-000000000001", "tracking_code": "SPL-7K2Q-9XMA",
        "service_code": "izin-usaha-mikro", "service_name": "Izin Usaha Mikro", "service_version": 2,
        "unit": "dpmptsp", "tenant": "31",
        "applicant": {"name": "Siti Rahma", "email": "siti@example.id", "language": "id"},
        "from": "draft", "to": "submitted", "note": None,
        "at": "2025-03-12T07:00:00+00:00", "due_at": "2025-03-26T10:00:00+00:00",
    },
    "submission.status_changed": {
        "submission_id": "3f1c2a9e-0000-4000-8000-000000000001", "tracking_code": "SPL-7K2Q-9XMA",
        "service_code": "izin-usaha-mikro", "service_name": "Izin Usaha Mikro", "service_version": 2,
        "unit": "dpmptsp", "tenant": "31",
        "applicant": {"name": "Siti Rahma", "email": "siti@example.id", "language": "id"},
        "from": "in_review", "to": "revision_requested", "note": "Lampirkan KTP yang terbaca.",
        "at": "2025-03-14T03:30:00+00:00", "due_at": "2025-03-28T10:00:00+00:00",
    },
    "submission.issued": {
        "submission_id": "3f1c2a9e-0000-4000-8000-000000000001", "tracking_code": "SPL-7K2Q-9XMA",
        "service_code": "izin-usaha-mikro", "service_name": "Izin Usaha Mikro", "service_version": 2,
        "unit": "dpmptsp", "tenant": "31",
        "applicant": {"name": "Siti Rahma", "email": "siti@example.id", "language": "id"},
        "from": "approved", "to": "issued", "note": None,
        "at": "2025-03-20T02:00:00+00:00", "due_at": "2025-03-28T10:00:00+00:00",
        "issued_documents": [{"document_id": "d-0001",
                              "verify_url": "http://127.0.0.1:8000/v1/verify/d-0001"}],
    },
    "complaint.updated": {
        "complaint_id": "c-0001", "submission_id": "3f1c2a9e-0000-4000-8000-000000000001",
        "service_code": "izin-usaha-mikro", "tenant": "31", "unit": "dpmptsp", "category": "timeliness",
        "action": "respond", "from": "open", "status": "in_progress", "closed": False,
        "text": "Berkas Anda sedang kami periksa ulang.", "response_due_at": "2025-04-03T16:59:59+00:00",
        "applicant": {"name": "Siti Rahma", "email": "siti@example.id", "language": "id"},
        "at": "2025-03-15T04:00:00+00:00",
    },
    "submission.issue_failed": {
        "submission_id": "3f1c2a9e-0000-4000-8000-000000000001", "tracking_code": "SPL-7K2Q-9XMA",
        "service_code": "izin-usaha-mikro", "service_version": 2, "unit": "dpmptsp", "tenant": "31",
        "status": "failed", "reason": "signatures answered 422: applicant.name contains a control character",
        "failed_at": "2025-03-20T02:15:00+00:00", "attempts": 1,
    },
    "submission.step_assigned": {
        "submission_id": "3f1c2a9e-0000-4000-8000-000000000001", "tracking_code": "SPL-7K2Q-9XMA",
        "service_code": "izin-usaha-mikro", "service_name": "Izin Usaha Mikro", "service_version": 2,
        "unit": "dpmptsp", "tenant": "31", "from": "in_review", "to": "in_review",
        "note": "Mohon diperiksa kelengkapan NIB.", "at": "2025-03-13T03:00:00+00:00",
        "due_at": "2025-03-26T10:00:00+00:00",
        "step": {"step": 2, "title": "Telaah", "role": "reviewer", "started_at": "2025-03-13T02:00:00+00:00",
                 "due_at": "2025-03-17T16:59:59+00:00", "assigned_to": "o-0002"},
        "assignee": {"id": "o-0002", "nip": "198503302010011002", "name": "Budi Santoso",
                     "position": "Kepala Subbagian", "email": "budi@example.go.id"},
    },
    **{event_type: {
        "submission_id": "3f1c2a9e-0000-4000-8000-000000000001", "tracking_code": "SPL-7K2Q-9XMA",
        "service_code": "izin-usaha-mikro", "service_name": "Izin Usaha Mikro", "unit": "dpmptsp", "tenant": "31",
        "applicant": {"name": "Siti Rahma", "email": "siti@example.id", "language": "id"},
        "bill": {"code": "820250000012343", "amount": 150000, "status": status,
                 "expires_at": "2025-03-19T16:59:59+00:00", "paid_at": paid_at},
        "at": "2025-03-13T03:00:00+00:00", **extra,
    } for event_type, status, paid_at, extra in (
        ("payment.billed", "unpaid", None, {}),
        ("payment.paid", "paid", "2025-03-13T03:00:00+00:00",
         {"payment": {"amount": 150000, "reference": "NTPN0A1B2C3D4E5F6"}}),
        ("payment.expired", "expired", None, {}),
        ("payment.mismatch", "unpaid", None, {"payment": {"amount": 100000, "reference": "NTPN0A1B2C3D4E5F6"}}),
        ("payment.awaited", "unpaid", None, {}),
    )},
    "submission.step_overdue": {
        "submission_id": "3f1c2a9e-0000-4000-8000-000000000001", "tracking_code": "SPL-7K2Q-9XMA",
        "service_code": "izin-usaha-mikro", "service_name": "Izin Usaha Mikro", "service_version": 2,
        "unit": "dpmptsp", "tenant": "31", "from": "in_review", "to": "in_review", "note": None,
        "at": "2025-03-18T00:00:00+00:00", "due_at": "2025-03-26T10:00:00+00:00",
        "step": {"step": 2, "title": "Telaah", "role": "reviewer", "started_at": "2025-03-13T02:00:00+00:00",
                 "due_at": "2025-03-17T16:59:59+00:00", "assigned_to": "o-0002"},
    },
}


def sample_context(event_type: str, language: str, public_url: str, data: dict[str, Any] | None = None) -> dict:
    return context_for(event_type, data if data is not None else SAMPLE_DATA[event_type],
                       event_id="00000000-0000-4000-8000-000000000000",
                       occurred_at="2025-03-14T03:30:00+00:00", language=language, public_url=public_url)


_HTML_HEAD = '<!doctype html>\n<html lang="{lang}"><body style="font-family: sans-serif; line-height: 1.5">\n'
_HTML_TAIL = "</body></html>\n"


def _html(lang: str, body: str) -> str:
    return _HTML_HEAD.format(lang=lang) + body + _HTML_TAIL


DEFAULTS: dict[tuple[str, str], Sources] = {
    ("submission.submitted", "id"): Sources(
        subject="Permohonan {{ tracking_code }} telah diterima",
        text=(
            "Yth. {{ applicant.name }},\n\n"
            "Permohonan Anda untuk layanan {{ service_name }} telah kami terima "
            "dengan kode pelacakan {{ tracking_code }}.\n"
            "{% if due_at %}Target penyelesaian: {{ due_at | date }}.\n{% endif %}"
            "{% if track_url %}Pantau statusnya di {{ track_url }}\n{% endif %}"
            "\nSalam,\nSimpul\n"
        ),
        html=_html("id",
            "<p>Yth. {{ applicant.name }},</p>\n"
            "<p>Permohonan Anda untuk layanan <strong>{{ service_name }}</strong> telah kami terima "
            "dengan kode pelacakan <strong>{{ tracking_code }}</strong>.</p>\n"
            "{% if due_at %}<p>Target penyelesaian: {{ due_at | date }}.</p>\n{% endif %}"
            '{% if track_url %}<p><a href="{{ track_url }}">Pantau status permohonan</a></p>\n{% endif %}'
            "<p>Salam,<br>Simpul</p>\n"),
    ),
    ("submission.submitted", "en"): Sources(
        subject="Your application {{ tracking_code }} has been received",
        text=(
            "Dear {{ applicant.name }},\n\n"
            "We have received your application for {{ service_name }} "
            "with tracking code {{ tracking_code }}.\n"
            "{% if due_at %}Expected completion: {{ due_at | date }}.\n{% endif %}"
            "{% if track_url %}Follow its status at {{ track_url }}\n{% endif %}"
            "\nRegards,\nSimpul\n"
        ),
        html=_html("en",
            "<p>Dear {{ applicant.name }},</p>\n"
            "<p>We have received your application for <strong>{{ service_name }}</strong> "
            "with tracking code <strong>{{ tracking_code }}</strong>.</p>\n"
            "{% if due_at %}<p>Expected completion: {{ due_at | date }}.</p>\n{% endif %}"
            '{% if track_url %}<p><a href="{{ track_url }}">Follow your application</a></p>\n{% endif %}'
            "<p>Regards,<br>Simpul</p>\n"),
    ),
    ("submission.status_changed", "id"): Sources(
        subject="Status permohonan {{ tracking_code }}: {{ to_status | status }}",
        text=(
            "Yth. {{ applicant.name }},\n\n"
            "Status permohonan {{ tracking_code }} ({{ service_name }}) berubah "
            "dari {{ from_status | status }} menjadi {{ to_status | status }} pada {{ at | datetime }}.\n"
            "{% if note %}Catatan petugas: {{ note }}\n{% endif %}"
            "{% if to_status == 'revision_requested' %}Mohon perbaiki permohonan Anda lalu ajukan kembali.\n{% endif %}"
            "{% if due_at %}Target penyelesaian: {{ due_at | date }}.\n{% endif %}"
            "{% if track_url %}Pantau statusnya di {{ track_url }}\n{% endif %}"
            "\nSalam,\nSimpul\n"
        ),
        html=_html("id",
            "<p>Yth. {{ applicant.name }},</p>\n"
            "<p>Status permohonan <strong>{{ tracking_code }}</strong> ({{ service_name }}) berubah "
            "dari {{ from_status | status }} menjadi <strong>{{ to_status | status }}</strong> "
            "pada {{ at | datetime }}.</p>\n"
            "{% if note %}<p>Catatan petugas: {{ note }}</p>\n{% endif %}"
            "{% if to_status == 'revision_requested' %}<p>Mohon perbaiki permohonan Anda lalu ajukan kembali.</p>\n{% endif %}"
            "{% if due_at %}<p>Target penyelesaian: {{ due_at | date }}.</p>\n{% endif %}"
            '{% if track_url %}<p><a href="{{ track_url }}">Pantau status permohonan</a></p>\n{% endif %}'
            "<p>Salam,<br>Simpul</p>\n"),
    ),
    ("submission.status_changed", "en"): Sources(
        subject="Application {{ tracking_code }}: {{ to_status | status }}",
        text=(
            "Dear {{ applicant.name }},\n\n"
            "The status of your application {{ tracking_code }} ({{ service_name }}) changed "
            "from {{ from_status | status }} to {{ to_status | status }} on {{ at | datetime }}.\n"
            "{% if note %}Officer's note: {{ note }}\n{% endif %}"
            "{% if to_status == 'revision_requested' %}Please revise your application and submit it again.\n{% endif %}"
            "{% if due_at %}Expected completion: {{ due_at | date }}.\n{% endif %}"
            "{% if track_url %}Follow its status at {{ track_url }}\n{% endif %}"
            "\nRegards,\nSimpul\n"
        ),
        html=_html("en",
            "<p>Dear {{ applicant.name }},</p>\n"
            "<p>The status of your application <strong>{{ tracking_code }}</strong> ({{ service_name }}) "
            "changed from {{ from_status | status }} to <strong>{{ to_status | status }}</strong> "
            "on {{ at | datetime }}.</p>\n"
            "{% if note %}<p>Officer's note: {{ note }}</p>\n{% endif %}"
            "{% if to_status == 'revision_requested' %}<p>Please revise your application and submit it again.</p>\n{% endif %}"
            "{% if due_at %}<p>Expected completion: {{ due_at | date }}.</p>\n{% endif %}"
            '{% if track_url %}<p><a href="{{ track_url }}">Follow your application</a></p>\n{% endif %}'
            "<p>Regards,<br>Simpul</p>\n"),
    ),
    ("submission.issued", "id"): Sources(
        subject="Dokumen permohonan {{ tracking_code }} telah terbit",
        text=(
            "Yth. {{ applicant.name }},\n\n"
            "Permohonan {{ tracking_code }} ({{ service_name }}) telah selesai dan dokumennya "
            "telah ditandatangani secara elektronik.\n"
            "{% for document in issued_documents %}Periksa keaslian dokumen: {{ document.verify_url }}\n{% endfor %}"
            "\nSalam,\nSimpul\n"
        ),
        html=_html("id",
            "<p>Yth. {{ applicant.name }},</p>\n"
            "<p>Permohonan <strong>{{ tracking_code }}</strong> ({{ service_name }}) telah selesai dan "
            "dokumennya telah ditandatangani secara elektronik.</p>\n"
            "{% if issued_documents %}<ul>\n{% for document in issued_documents %}"
            '<li><a href="{{ document.verify_url }}">Periksa keaslian dokumen</a></li>\n'
            "{% endfor %}</ul>\n{% endif %}"
            "<p>Salam,<br>Simpul</p>\n"),
    ),
    ("submission.issued", "en"): Sources(
        subject="The document for application {{ tracking_code }} has been issued",
        text=(
            "Dear {{ applicant.name }},\n\n"
            "Your application {{ tracking_code }} ({{ service_name }}) is complete and its document "
            "has been signed electronically.\n"
            "{% for document in issued_documents %}Verify the document: {{ document.verify_url }}\n{% endfor %}"
            "\nRegards,\nSimpul\n"
        ),
        html=_html("en",
            "<p>Dear {{ applicant.name }},</p>\n"
            "<p>Your application <strong>{{ tracking_code }}</strong> ({{ service_name }}) is complete and "
            "its document has been signed electronically.</p>\n"
            "{% if issued_documents %}<ul>\n{% for document in issued_documents %}"
            '<li><a href="{{ document.verify_url }}">Verify the document</a></li>\n'
            "{% endfor %}</ul>\n{% endif %}"
            "<p>Regards,<br>Simpul</p>\n"),
    ),
    ("complaint.updated", "id"): Sources(
        subject="Pengaduan Anda: {% if closed %}ditutup{% else %}{{ status | status }}{% endif %}",
        text=(
            "Yth. {{ applicant.name }},\n\n"
            "Status pengaduan Anda kini {{ status | status }} ({{ at | datetime }}).\n"
            "{% if text and action in ('respond', 'resolve') %}\nTanggapan unit:\n{{ text }}\n{% endif %}"
            "{% if closed %}\nPengaduan ini telah ditutup; bila masalahnya berlanjut, ajukan pengaduan baru.\n"
            "{% elif response_due_at %}\nTindak lanjut berikutnya paling lambat {{ response_due_at | datetime }}.\n"
            "{% endif %}"
            "\nSalam,\nSimpul\n"
        ),
        html=_html("id",
            "<p>Yth. {{ applicant.name }},</p>\n"
            "<p>Status pengaduan Anda kini <strong>{{ status | status }}</strong> ({{ at | datetime }}).</p>\n"
            "{% if text and action in ('respond', 'resolve') %}<p>Tanggapan unit:</p>\n<blockquote>{{ text }}</blockquote>\n{% endif %}"
            "{% if closed %}<p>Pengaduan ini telah ditutup; bila masalahnya berlanjut, ajukan pengaduan baru.</p>\n"
            "{% elif response_due_at %}<p>Tindak lanjut berikutnya paling lambat {{ response_due_at | datetime }}.</p>\n"
            "{% endif %}"
            "<p>Salam,<br>Simpul</p>\n"),
    ),
    ("complaint.updated", "en"): Sources(
        subject="Your complaint: {% if closed %}closed{% else %}{{ status | status }}{% endif %}",
        text=(
            "Dear {{ applicant.name }},\n\n"
            "Your complaint is now {{ status | status }} ({{ at | datetime }}).\n"
            "{% if text and action in ('respond', 'resolve') %}\nThe unit's response:\n{{ text }}\n{% endif %}"
            "{% if closed %}\nThis complaint is now closed; if the problem goes on, please file a new one.\n"
            "{% elif response_due_at %}\nThe next step is due by {{ response_due_at | datetime }}.\n"
            "{% endif %}"
            "\nRegards,\nSimpul\n"
        ),
        html=_html("en",
            "<p>Dear {{ applicant.name }},</p>\n"
            "<p>Your complaint is now <strong>{{ status | status }}</strong> ({{ at | datetime }}).</p>\n"
            "{% if text and action in ('respond', 'resolve') %}<p>The unit's response:</p>\n<blockquote>{{ text }}</blockquote>\n{% endif %}"
            "{% if closed %}<p>This complaint is now closed; if the problem goes on, please file a new one.</p>\n"
            "{% elif response_due_at %}<p>The next step is due by {{ response_due_at | datetime }}.</p>\n"
            "{% endif %}"
            "<p>Regards,<br>Simpul</p>\n"),
    ),
    ("submission.issue_failed", "id"): Sources(
        subject="Penerbitan dokumen {{ tracking_code }} gagal",
        text=(
            "Dokumen permohonan {{ tracking_code }} (layanan {{ service_code }}, unit {{ unit }}) "
            "tidak dapat diterbitkan dan tidak akan dicoba lagi: layanan tanda tangan menolaknya.\n"
            "Alasan: {{ reason }}\n"
            "Percobaan: {{ attempts }}, terakhir {{ failed_at | datetime }}.\n"
            "Permohonan tetap berstatus disetujui sampai masalahnya ditangani.\n"
            "\nSimpul\n"
        ),
        html=_html("id",
            "<p>Dokumen permohonan <strong>{{ tracking_code }}</strong> (layanan {{ service_code }}, unit {{ unit }}) "
            "tidak dapat diterbitkan dan tidak akan dicoba lagi: layanan tanda tangan menolaknya.</p>\n"
            "<p>Alasan: {{ reason }}</p>\n"
            "<p>Percobaan: {{ attempts }}, terakhir {{ failed_at | datetime }}.</p>\n"
            "<p>Permohonan tetap berstatus disetujui sampai masalahnya ditangani.</p>\n"
            "<p>Simpul</p>\n"),
    ),
    ("submission.issue_failed", "en"): Sources(
        subject="Issuing the document of {{ tracking_code }} failed",
        text=(
            "The document of application {{ tracking_code }} (service {{ service_code }}, unit {{ unit }}) "
            "could not be issued and will not be tried again: the signing service refused it.\n"
            "Reason: {{ reason }}\n"
            "Attempts: {{ attempts }}, the last at {{ failed_at | datetime }}.\n"
            "The application stays approved until the problem is dealt with.\n"
            "\nSimpul\n"
        ),
        html=_html("en",
            "<p>The document of application <strong>{{ tracking_code }}</strong> (service {{ service_code }}, "
            "unit {{ unit }}) could not be issued and will not be tried again: the signing service refused it.</p>\n"
            "<p>Reason: {{ reason }}</p>\n"
            "<p>Attempts: {{ attempts }}, the last at {{ failed_at | datetime }}.</p>\n"
            "<p>The application stays approved until the problem is dealt with.</p>\n"
            "<p>Simpul</p>\n"),
    ),
    ("submission.step_assigned", "id"): Sources(
        subject="Disposisi: permohonan {{ tracking_code }}, langkah {{ step.step }} ({{ step.title }})",
        text=(
            "Yth. {{ assignee.name }} ({{ assignee.position }}),\n"
            "\nPermohonan {{ tracking_code }} (layanan {{ service_code }}) didisposisikan kepada Anda untuk "
            "langkah {{ step.step }}, {{ step.title }}, paling lambat {{ step.due_at | datetime }}.\n"
            "{% if note %}\nArahan:\n{{ note }}\n{% endif %}"
            "\nSimpul\n"
        ),
        html=_html("id",
            "<p>Yth. {{ assignee.name }} ({{ assignee.position }}),</p>\n"
            "<p>Permohonan <strong>{{ tracking_code }}</strong> (layanan {{ service_code }}) didisposisikan kepada "
            "Anda untuk langkah {{ step.step }}, {{ step.title }}, paling lambat {{ step.due_at | datetime }}.</p>\n"
            "{% if note %}<p>Arahan:</p>\n<blockquote>{{ note }}</blockquote>\n{% endif %}"
            "<p>Simpul</p>\n"),
    ),
    ("submission.step_assigned", "en"): Sources(
        subject="Disposition: application {{ tracking_code }}, step {{ step.step }} ({{ step.title }})",
        text=(
            "Dear {{ assignee.name }} ({{ assignee.position }}),\n"
            "\nApplication {{ tracking_code }} (service {{ service_code }}) was disposed to you for step "
            "{{ step.step }}, {{ step.title }}, due by {{ step.due_at | datetime }}.\n"
            "{% if note %}\nInstruction:\n{{ note }}\n{% endif %}"
            "\nSimpul\n"
        ),
        html=_html("en",
            "<p>Dear {{ assignee.name }} ({{ assignee.position }}),</p>\n"
            "<p>Application <strong>{{ tracking_code }}</strong> (service {{ service_code }}) was disposed to you "
            "for step {{ step.step }}, {{ step.title }}, due by {{ step.due_at | datetime }}.</p>\n"
            "{% if note %}<p>Instruction:</p>\n<blockquote>{{ note }}</blockquote>\n{% endif %}"
            "<p>Simpul</p>\n"),
    ),
    ("submission.step_overdue", "id"): Sources(
        subject="Terlambat: permohonan {{ tracking_code }}, langkah {{ step.step }} ({{ step.title }})",
        text=(
            "Langkah {{ step.step }}, {{ step.title }} (peran {{ step.role }}), permohonan {{ tracking_code }} "
            "(layanan {{ service_code }}, unit {{ unit }}) melewati batas waktunya {{ step.due_at | datetime }}.\n"
            "\nSimpul\n"
        ),
        html=_html("id",
            "<p>Langkah {{ step.step }}, {{ step.title }} (peran {{ step.role }}), permohonan "
            "<strong>{{ tracking_code }}</strong> (layanan {{ service_code }}, unit {{ unit }}) melewati batas "
            "waktunya {{ step.due_at | datetime }}.</p>\n<p>Simpul</p>\n"),
    ),
    ("submission.step_overdue", "en"): Sources(
        subject="Late: application {{ tracking_code }}, step {{ step.step }} ({{ step.title }})",
        text=(
            "Step {{ step.step }}, {{ step.title }} (role {{ step.role }}), of application {{ tracking_code }} "
            "(service {{ service_code }}, unit {{ unit }}) passed its due time {{ step.due_at | datetime }}.\n"
            "\nSimpul\n"
        ),
        html=_html("en",
            "<p>Step {{ step.step }}, {{ step.title }} (role {{ step.role }}), of application "
            "<strong>{{ tracking_code }}</strong> (service {{ service_code }}, unit {{ unit }}) passed its due "
            "time {{ step.due_at | datetime }}.</p>\n<p>Simpul</p>\n"),
    ),
}

# The payment events, in both languages: one paragraph each, as text and as HTML.
_PAYMENT_MESSAGES = {
    ("payment.billed", "id"): (
        "Tagihan {{ bill.code }} untuk permohonan {{ tracking_code }}",
        "Permohonan Anda {{ tracking_code }} untuk layanan {{ service_name }} dikenai biaya {{ bill.amount | rupiah }}. "
        "Bayarlah dengan kode billing {{ bill.code }} sebelum {{ bill.expires_at | datetime }}."),
    ("payment.billed", "en"): (
        "Bill {{ bill.code }} for application {{ tracking_code }}",
        "Your application {{ tracking_code }} for {{ service_name }} has a fee of {{ bill.amount | rupiah }}. "
        "Pay it with billing code {{ bill.code }} before {{ bill.expires_at | datetime }}."),
    ("payment.paid", "id"): (
        "Pembayaran tagihan {{ bill.code }} diterima",
        "Pembayaran {{ bill.amount | rupiah }} untuk permohonan {{ tracking_code }} ({{ service_name }}) telah "
        "diterima pada {{ bill.paid_at | datetime }}."),
    ("payment.paid", "en"): (
        "Payment of bill {{ bill.code }} received",
        "The payment of {{ bill.amount | rupiah }} for application {{ tracking_code }} ({{ service_name }}) was "
        "received on {{ bill.paid_at | datetime }}."),
    ("payment.expired", "id"): (
        "Tagihan {{ bill.code }} kedaluwarsa",
        "Tagihan {{ bill.code }} sebesar {{ bill.amount | rupiah }} untuk permohonan {{ tracking_code }} tidak "
        "dibayar hingga {{ bill.expires_at | datetime }} dan kini kedaluwarsa; jangan membayar dengan kode ini lagi."),
    ("payment.expired", "en"): (
        "Bill {{ bill.code }} expired",
        "The bill {{ bill.code }} of {{ bill.amount | rupiah }} for application {{ tracking_code }} was not paid by "
        "{{ bill.expires_at | datetime }} and has expired; do not pay with this code any more."),
    ("payment.mismatch", "id"): (
        "Pembayaran tagihan {{ bill.code }} tidak sesuai",
        "Pembayaran {{ payment.amount | rupiah }} (referensi {{ payment.reference }}) tidak sama dengan tagihan "
        "{{ bill.code }} sebesar {{ bill.amount | rupiah }}; tagihan belum lunas. Hubungi unit layanan."),
    ("payment.mismatch", "en"): (
        "Payment of bill {{ bill.code }} does not match",
        "A payment of {{ payment.amount | rupiah }} (reference {{ payment.reference }}) does not match the bill "
        "{{ bill.code }} of {{ bill.amount | rupiah }}; the bill is not paid. Please contact the service unit."),
    ("payment.awaited", "id"): (
        "Permohonan {{ tracking_code }} menunggu pembayaran Anda",
        "Pemeriksaan permohonan Anda {{ tracking_code }} ({{ service_name }}) telah selesai; keputusan dan dokumen "
        "menunggu pembayaran {{ bill.amount | rupiah }} dengan kode billing {{ bill.code }} sebelum "
        "{{ bill.expires_at | datetime }}. Waktu layanan tidak berjalan selama menunggu pembayaran."),
    ("payment.awaited", "en"): (
        "Application {{ tracking_code }} waits for your payment",
        "The review of your application {{ tracking_code }} ({{ service_name }}) is complete; the decision and the "
        "document wait for your payment of {{ bill.amount | rupiah }} with billing code {{ bill.code }} before "
        "{{ bill.expires_at | datetime }}. The service time does not run while the payment is awaited."),
}
_GREETING = {"id": "Yth. {{ applicant.name }},", "en": "Dear {{ applicant.name }},"}


def _payment_sources(subject: str, body: str, language: str) -> Sources:
    greeting = _GREETING[language]
    return Sources(subject=subject, text=f"{greeting}\n\n{body}\n\nSimpul\n",
                   html=_html(language, f"<p>{greeting}</p>\n<p>{body}</p>\n<p>Simpul</p>\n"))


DEFAULTS.update({key: _payment_sources(subject, body, key[1]) for key, (subject, body) in _PAYMENT_MESSAGES.items()})
