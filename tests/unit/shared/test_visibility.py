"""One visibility rule: the where-clause and the row check agree, for every kind of caller."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from simpul.shared.identity import ANONYMOUS, Identity
from simpul.shared.visibility import Visibility

metadata = MetaData()


def table(name: str, tenant: str, unit: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column(tenant, String(64), nullable=False),
        Column(unit, String(64), nullable=True),
    )


things = table("things", "tenant", "unit")
# Other column names, as a table may call them.
renamed = table("renamed", "region", "owner_unit")
ROWS = [
    {"id": 1, "tenant": "31", "unit": "KDN-BH"},
    {"id": 2, "tenant": "31", "unit": "KDN-OTDA"},
    {"id": 3, "tenant": "16.71", "unit": "KDN-BH"},
    {"id": 4, "tenant": "16.71", "unit": None},
]

CALLERS = {
    "admin": (Identity("a", "admin"), {1, 2, 3, 4}),
    "admin with a tenant": (Identity("a", "admin", tenant="31"), {1, 2, 3, 4}),
    "applicant of 31": (Identity("p", "applicant", tenant="31"), {1, 2}),
    "applicant of 16.71": (Identity("p", "applicant", tenant="16.71"), {3, 4}),
    "officer of KDN-BH": (Identity("o", "officer", tenant="KDN-BH"), {1, 3}),
    "officer of a unit named like a region": (Identity("o", "officer", tenant="31"), set()),
    "applicant without a region": (Identity("p", "applicant"), set()),
    "applicant with an empty region": (Identity("p", "applicant", tenant=""), set()),
    "officer without a unit": (Identity("o", "officer"), set()),
    "anonymous": (ANONYMOUS, set()),
    "a service": (Identity("service:submissions", "service", tenant="31"), set()),
}


@pytest.fixture(scope="module")
def engine():
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(things), ROWS)
        connection.execute(
            insert(renamed), [{"id": r["id"], "region": r["tenant"], "owner_unit": r["unit"]} for r in ROWS]
        )
    yield engine
    engine.dispose()


@pytest.mark.parametrize("caller", list(CALLERS))
def test_the_filter_and_the_row_check_give_the_same_rows(engine, caller):
    identity, expected = CALLERS[caller]
    visibility = Visibility.of(identity)
    with engine.connect() as connection:
        listed = set(connection.scalars(select(things.c.id).where(visibility.where(things))))
        renamed_listed = set(connection.scalars(
            select(renamed.c.id).where(visibility.where(renamed, tenant="region", unit="owner_unit"))
        ))
    checked = {row["id"] for row in ROWS if visibility.allows(row)}
    renamed_checked = {
        row["id"] for row in ROWS
        if visibility.allows({"region": row["tenant"], "owner_unit": row["unit"]}, tenant="region", unit="owner_unit")
    }
    assert listed == checked == renamed_listed == renamed_checked == expected


def test_nothing_is_said_up_front():
    assert Visibility.of(ANONYMOUS).nothing
    assert Visibility.of(Identity("p", "applicant")).nothing
    assert not Visibility.of(Identity("a", "admin")).nothing
    assert not Visibility.of(Identity("p", "applicant", tenant="31")).nothing


def test_what_a_caller_is_matched_on():
    assert Visibility.of(Identity("p", "applicant", tenant="31")) == Visibility(key="tenant", value="31")
    assert Visibility.of(Identity("o", "officer", tenant="KDN-BH")) == Visibility(key="unit", value="KDN-BH")
    assert Visibility.of(Identity("a", "admin")) == Visibility(everything=True)


def test_a_row_hidden_from_its_reader_is_a_refusal_on_the_security_log(caplog):
    caplog.set_level("INFO", "simpul.security")
    officer = Visibility.of(Identity(subject="o-1", role="officer", tenant="KDN-BH"))
    assert officer.allows({"tenant": "31", "unit": "KDN-BH"})
    assert not officer.allows({"tenant": "31", "unit": "KDN-OTDA"})
    assert not Visibility.of(ANONYMOUS).allows({"tenant": "31", "unit": "KDN-BH"})
    reasons = [json.loads(record.getMessage())["reason"] for record in caplog.records]
    assert reasons == ["visibility: unit", "visibility: nothing"]
