"""The Catalogue itself, called as plain Python over a migrated database (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import simpul.catalog
from simpul.catalog.schemas import ServiceCreate, ServiceRevision
from simpul.catalog.service import Catalogue
from simpul.shared.db import create_engine, migrate, read_session_factory, session_factory
from simpul.shared.identity import ANONYMOUS, Identity
from simpul.shared.problems import Problem
from tests.unit.catalog.test_catalog_rules import BASE

ADMIN = Identity(subject="admin-1", role="admin")
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self, hours: int = 1) -> datetime:
        self.now += timedelta(hours=hours)
        return self.now


@pytest.fixture
async def catalogue(databases):
    engine = create_engine(await databases.url("catalog"))
    await migrate(engine, Path(simpul.catalog.__file__).parent / "migrations")
    clock = Clock()
    yield Catalogue(session_factory(engine), read_session_factory(engine), clock=clock), clock
    await engine.dispose()


async def test_versions_carry_their_own_timestamps(catalogue):
    catalogue, clock = catalogue
    await catalogue.create(ADMIN, ServiceCreate.model_validate(BASE), "en")
    published_at = clock.tick()
    await catalogue.publish(ADMIN, "UJI-A")
    revised_at = clock.tick()
    changed = ServiceRevision.model_validate({**BASE, "sla_working_days": 9})
    current = (await catalogue.revise(ADMIN, "UJI-A", changed, "en")).document

    assert (current["version"], current["status"]) == (2, "published")
    assert current["created_at"] == current["published_at"] == current["updated_at"] == revised_at.isoformat()
    first = (await catalogue.version(ANONYMOUS, "UJI-A", 1)).document
    assert first["created_at"] == START.isoformat()
    assert first["published_at"] == published_at.isoformat()
    assert (first["retired_at"], first["superseded_by"], first["status"]) == (revised_at.isoformat(), 2, "retired")
    assert (await catalogue.current(ANONYMOUS, "UJI-A")).document == current


async def test_drafts_are_invisible_to_everyone_but_admins(catalogue):
    catalogue, _ = catalogue
    await catalogue.create(ADMIN, ServiceCreate.model_validate(BASE), "en")
    for caller in (ANONYMOUS, Identity("x", "officer", "KDN-BH"), Identity("service:submissions", "service")):
        with pytest.raises(Problem) as hidden:
            await catalogue.current(caller, "UJI-A")
        assert hidden.value.status == 404
    assert (await catalogue.current(ADMIN, "UJI-A")).status == "draft"


async def test_seeding_creates_published_services_once(catalogue):
    catalogue, _ = catalogue
    seeder = Identity(subject="catalog:demo", role="service")
    definitions = [ServiceCreate.model_validate(BASE), ServiceCreate.model_validate({**BASE, "code": "UJI-B"})]
    assert await catalogue.seed(seeder, definitions) == ["UJI-A", "UJI-B"]
    assert await catalogue.seed(seeder, definitions) == []
    listing = await catalogue.list_services(ANONYMOUS, limit=10)
    assert len(listing.items) == 2 and listing.next_cursor is None
