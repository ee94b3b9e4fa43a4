"""Public pages that people read: server-rendered HTML, no JavaScript, Indonesian unless the
reader asks for English (`?lang=` first, then Accept-Language). Each service renders its own
pages with its own templates; they extend the base template here so every page has the same
landmarks, language switch, styles (print included) and security headers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from simpul.shared.negotiation import preferred
from simpul.shared.problems import request_language

LANGUAGES = ("id", "en")
# Western Indonesia Time: the one time zone public pages state (no DST, so a fixed offset).
WIB = timezone(timedelta(hours=7), "WIB")
MONTHS = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}
# No script, no framing, no outside resources: the pages are inert by construction.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    # The same URL answers JSON or HTML, in either language: caches must keep them apart.
    "Vary": "Accept, Accept-Language",
}
HTML_OFFERS = {"json": ("application/json", "application/*"), "html": ("text/html", "application/xhtml+xml")}

UI: dict[str, dict[str, str]] = {
    "id": {
        "skip": "Langsung ke isi",
        "site": "Simpul · Layanan Administrasi Terpadu",
        "nav": "Menu utama",
        "catalogue": "Katalog layanan",
        "performance": "Kinerja layanan",
        "satisfaction": "Kepuasan masyarakat",
        "switch": "English",
        "switch_lang": "en",
        "footer": "Informasi publik sesuai Undang-Undang Nomor 25 Tahun 2009 tentang Pelayanan Publik.",
        "not_found_title": "Halaman tidak ditemukan",
        "not_found": "Kami tidak menemukan yang Anda cari. Periksa kembali kode atau tautannya.",
        "back": "Kembali ke katalog layanan",
    },
    "en": {
        "skip": "Skip to content",
        "site": "Simpul · Integrated Administrative Services",
        "nav": "Main menu",
        "catalogue": "Service catalogue",
        "performance": "Service performance",
        "satisfaction": "Public satisfaction",
        "switch": "Bahasa Indonesia",
        "switch_lang": "id",
        "footer": "Public information under Law 25 of 2009 on Public Services.",
        "not_found_title": "Page not found",
        "not_found": "We could not find what you are looking for. Check the code or the link again.",
        "back": "Back to the service catalogue",
    },
}


def wants_html(request: Request) -> bool:
    """True when the client prefers HTML to JSON (a browser), judged by Accept q-values."""
    return preferred(request.headers.get("accept"), HTML_OFFERS, "json") == "html"


def page_language(request: Request) -> str:
    """`?lang=id|en` (the visible switch) wins over Accept-Language."""
    chosen = request.query_params.get("lang")
    return chosen if chosen in LANGUAGES else request_language(request)


def when(value: datetime | str | None, language: str) -> str:
    """A moment as Indonesians write it, in WIB: "3 Desember 2026, 14.05 WIB"."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(WIB)
    clock = f"{local:%H.%M}" if language == "id" else f"{local:%H:%M}"
    return f"{local.day} {MONTHS[language][local.month - 1]} {local.year}, {clock} WIB"


def day(value: date | str | None, language: str) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.day} {MONTHS[language][value.month - 1]} {value.year}"


def number(value: float | int | None, language: str, digits: int = 0) -> str:
    """1.234,5 in Indonesian, 1,234.5 in English; years are not numbers here, print them as they are."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    if language == "id":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def rupiah(amount: int, language: str) -> str:
    return f"Rp{number(amount, 'id')}" if language == "id" else f"IDR {number(amount, 'en')}"


def percent(share: float | None, language: str) -> str:
    return "–" if share is None else f"{number(share * 100, language, 1)}%"


class Pages:
    """The Jinja environment of one service: its own templates first, then the shared base."""

    def __init__(self, templates: Path, texts: Mapping[str, Mapping[str, str]]) -> None:
        self.texts = texts
        self.environment = Environment(
            loader=ChoiceLoader([FileSystemLoader(templates), FileSystemLoader(Path(__file__).parent / "page_templates")]),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters.update(when=when, day=day, number=number, rupiah=rupiah, percent=percent)

    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        language = page_language(request)
        switched = {**request.query_params, "lang": UI[language]["switch_lang"]}
        body = self.environment.get_template(template).render(
            lang=language,
            ui=UI[language],
            t=self.texts[language],
            lang_query=urlencode({"lang": language}),
            switch_url=f"{request.url.path}?{urlencode(switched)}",
            **context,
        )
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    def not_found(self, request: Request) -> HTMLResponse:
        return self.render(request, "not_found.html", status=404)
