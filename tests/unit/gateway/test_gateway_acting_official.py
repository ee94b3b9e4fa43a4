"""The registry's view of a token acting as an official: the unit must match, the official must be
active, a change shows in the next view, and a deactivated one costs no database look per request."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from simpul.gateway.clients import ClientRecord
from simpul.gateway.officials import OfficialRecord
from simpul.gateway.registry import ClientRegistry

NOW = datetime(2026, 12, 3, tzinfo=UTC)
OFFICER = ClientRecord("cli_officer", "Biro Hukum", "officer", "KDN-BH", NOW, "admin", None, None)
APPLICANT = ClientRecord("cli_region", "Kota", "applicant", "16.71", NOW, "admin", None, None)
SITI = OfficialRecord("off_siti", "KDN-BH", "198503142010012002", "Siti Rahma", "Kepala Biro", ("signer",), None,
                      1, NOW, "cli_officer", NOW, None, None)


class Clients:
    async def active_clients(self):
        return [OFFICER, APPLICANT]

    async def find(self, client_id):
        return None


class Officials:
    def __init__(self, *records: OfficialRecord) -> None:
        self.records = {record.id: record for record in records}
        self.looks = 0

    async def all_active(self):
        return []

    async def find(self, official_id):
        self.looks += 1
        return self.records.get(official_id)


def registry(officials: Officials) -> ClientRegistry:
    made = ClientRegistry(Clients(), officials)
    asyncio.run(made.load())
    return made


def test_an_officer_acts_as_its_units_official_and_sees_changes():
    officials = Officials(SITI)
    made = registry(officials)
    view = asyncio.run(made.resolve_acting("cli_officer", "off_siti"))
    assert view.identity.official.nip == SITI.nip and view.identity.tenant == "KDN-BH"
    assert asyncio.run(made.resolve_acting("cli_officer", "off_siti")) is view and officials.looks == 1
    made.official_changed(replace(SITI, roles=("signer", "reviewer"), version=2))
    assert asyncio.run(made.resolve_acting("cli_officer", "off_siti")).identity.official.roles == ("signer", "reviewer")


def test_another_unit_a_non_officer_or_an_unknown_official_gets_nothing():
    made = registry(Officials(replace(SITI, unit="KDN-OTDA")))
    assert asyncio.run(made.resolve_acting("cli_officer", "off_siti")) is None
    made = registry(Officials(SITI))
    assert asyncio.run(made.resolve_acting("cli_region", "off_siti")) is None
    assert asyncio.run(made.resolve_acting("cli_officer", "off_nobody")) is None
    assert asyncio.run(made.resolve_acting("cli_gone", "off_siti")) is None


def test_a_deactivated_official_is_refused_without_a_database_look_each_time():
    officials = Officials(SITI)
    made = registry(officials)
    assert asyncio.run(made.resolve_acting("cli_officer", "off_siti")) is not None
    made.official_changed(replace(SITI, deactivated_at=NOW, version=2))
    looks = officials.looks
    for _ in range(3):
        assert asyncio.run(made.resolve_acting("cli_officer", "off_siti")) is None
    assert officials.looks == looks
