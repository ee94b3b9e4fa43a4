"""Templates in the database: seeded with the defaults, edited by admins, previewed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import TemplateSyntaxError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.notifications.database import Database
from simpul.notifications.models import audit, templates
from simpul.notifications.templates import DEFAULTS, EVENT_TYPES, LANGUAGES, PARTS, Sources, compile_part, render
from simpul.notifications.templates import sample_context
from simpul.shared import audit as audit_log
from simpul.shared.db import utcnow
from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text

NOT_FOUND = Text("Templat tidak ditemukan.", "Template not found.")
INVALID = Text("Templat tidak dapat dipakai.", "The template cannot be used.")


def _view(row: Any) -> dict[str, Any]:
    return {"event_type": row.event_type, "language": row.language, "subject": row.subject, "text": row.text,
            "html": row.html, "updated_at": row.updated_at, "updated_by": row.updated_by}


def _known(event_type: str, language: str) -> None:
    if event_type not in EVENT_TYPES or language not in LANGUAGES:
        raise Problem(404, NOT_FOUND)


async def _load(session: AsyncSession, event_type: str, language: str) -> Any:
    _known(event_type, language)
    row = (await session.execute(select(templates).where(
        templates.c.event_type == event_type, templates.c.language == language))).first()
    if row is None:
        raise Problem(404, NOT_FOUND)
    return row


def _render_checked(sources: Sources, event_type: str, language: str, public_url: str,
                    data: dict[str, Any] | None) -> dict[str, Any]:
    """Render, turning any template error into a 422 naming the part at fault."""
    for part in PARTS:
        try:
            compile_part(part, getattr(sources, part))
        except TemplateSyntaxError as exc:
            raise Problem(422, INVALID, slug="invalid-template",
                          errors=[{"field": part, "message": f"line {exc.lineno}: {exc.message}"}]) from exc
    try:
        rendered = render(sources, sample_context(event_type, language, public_url, data), language)
    except Exception as exc:  # whatever the template does wrong at run time (undefined name, sandbox refusal)
        raise Problem(422, INVALID, slug="invalid-template",
                      errors=[{"field": "template", "message": f"{type(exc).__name__}: {exc}"}]) from exc
    return {"event_type": event_type, "language": language, "subject": rendered.subject, "text": rendered.text,
            "html": rendered.html}


class TemplateStore:
    """The email templates: seeded, read, replaced and previewed. `on_change` is told of every
    replacement (this process's caches drop the old one)."""

    def __init__(self, database: Database, read_sessions: async_sessionmaker[AsyncSession], public_url: str,
                 on_change: Callable[[], None]) -> None:
        self.database = database
        self.read_sessions = read_sessions
        self.public_url = public_url
        self.on_change = on_change

    async def seed(self) -> None:
        """Insert the default of every (event type, language) that has none; edited ones stay."""
        async with self.database.read() as session:
            existing = {(row.event_type, row.language) for row in
                        (await session.execute(select(templates.c.event_type, templates.c.language))).all()}
        missing = [key for key in DEFAULTS if key not in existing]
        if not missing:
            return
        now = utcnow()
        rows = [{"event_type": event_type, "language": language, "subject": DEFAULTS[(event_type, language)].subject,
                 "text": DEFAULTS[(event_type, language)].text, "html": DEFAULTS[(event_type, language)].html,
                 "updated_at": now, "updated_by": None}
                for event_type, language in missing]
        try:
            async with self.database.begin() as session:
                await session.execute(insert(templates), rows)
        except IntegrityError:
            # Another process of this service seeded them at the same moment.
            pass

    async def list_all(self) -> list[dict[str, Any]]:
        async with self.read_sessions() as session:
            rows = (await session.execute(
                select(templates).order_by(templates.c.event_type, templates.c.language))).all()
        return [_view(row) for row in rows]

    async def get(self, event_type: str, language: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            return _view(await _load(session, event_type, language))

    async def put(self, identity: Identity, event_type: str, language: str, sources: Sources) -> dict[str, Any]:
        """Replace a template; refused (422) unless it compiles and renders the sample event."""
        _known(event_type, language)
        _render_checked(sources, event_type, language, self.public_url, None)
        now = utcnow()
        values = {"subject": sources.subject, "text": sources.text, "html": sources.html, "updated_at": now,
                  "updated_by": identity.subject}
        async with self.database.begin() as session:
            changed = await session.execute(update(templates).where(
                templates.c.event_type == event_type, templates.c.language == language).values(**values))
            if changed.rowcount == 0:
                await session.execute(insert(templates).values(event_type=event_type, language=language, **values))
            await audit_log.record(session, audit, identity, "template.changed", "template",
                                   f"{event_type}/{language}", details={"created": changed.rowcount == 0})
        self.on_change()
        return {"event_type": event_type, "language": language, **values}

    async def preview(self, event_type: str, language: str, drafts: dict[str, str | None],
                      data: dict[str, Any] | None) -> dict[str, Any]:
        async with self.read_sessions() as session:
            stored = await _load(session, event_type, language)
        sources = Sources(**{part: drafts.get(part) or getattr(stored, part) for part in PARTS})
        return _render_checked(sources, event_type, language, self.public_url, data)
