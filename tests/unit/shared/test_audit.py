"""The audit chain: every alteration, deletion and reordering found, at the exact sequence."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from simpul.shared.audit import AuditLog
from simpul.shared.identity import Identity
from simpul.shared.requestid import _request_id
from tests.support.audit import audit_log_with

ADMIN = Identity(subject="admin-1", role="admin")
ROWS = 6


@pytest.fixture
async def audit(tmp_path):
    """Six rows, written under the request id `req-1`."""
    token = _request_id.set("req-1")
    async with audit_log_with(tmp_path, ADMIN, "client.created", "client",
                              [f"c{number}" for number in range(1, ROWS + 1)]) as log:
        _request_id.reset(token)
        yield log


async def _change(log: AuditLog, statement) -> None:
    async with log.sessions.begin() as session:
        await session.execute(statement)


async def test_an_untouched_chain_is_valid(audit):
    result = await audit.verify()
    assert (result.valid, result.checked, result.first_broken) == (True, ROWS, None)


async def test_rows_carry_actor_request_id_and_link_to_the_one_before(audit):
    items, next_cursor = await audit.page(limit=ROWS, cursor=None)
    assert next_cursor is None
    assert [item["seq"] for item in items] == list(range(1, ROWS + 1))
    assert items[0]["actor"] == {"id": "admin-1", "role": "admin", "tenant": None}
    assert items[0]["request_id"] == "req-1"
    assert items[0]["object"] == {"type": "client", "id": "c1"}
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in zip(items, items[1:]))


async def test_pages_follow_the_cursor(audit):
    first, cursor = await audit.page(limit=4, cursor=None)
    second, last_cursor = await audit.page(limit=4, cursor=cursor)
    assert [item["seq"] for item in first + second] == list(range(1, ROWS + 1))
    assert last_cursor is None


@pytest.mark.parametrize("column, value", [("action", "client.revoked"), ("object_id", "c99"),
                                           ("actor", "someone-else"), ("details", '{"role":"admin"}')])
async def test_an_altered_row_is_found(audit, column, value):
    table = audit.tables.log
    await _change(audit, update(table).where(table.c.seq == 3).values({column: value}))
    result = await audit.verify()
    assert (result.valid, result.first_broken, result.reason) == (False, 3, "altered")


async def test_a_row_rehashed_after_its_change_breaks_the_next_link(audit):
    table = audit.tables.log
    await _change(audit, update(table).where(table.c.seq == 3).values(hash="f" * 64))
    result = await audit.verify()
    assert (result.first_broken, result.reason) == (3, "altered")


async def test_a_deleted_row_is_found(audit):
    table = audit.tables.log
    await _change(audit, delete(table).where(table.c.seq == 4))
    result = await audit.verify()
    assert (result.valid, result.first_broken, result.reason, result.checked) == (False, 4, "missing", 4)


async def test_a_deleted_first_row_is_found(audit):
    table = audit.tables.log
    await _change(audit, delete(table).where(table.c.seq == 1))
    assert (await audit.verify()).first_broken == 1


async def test_reordered_rows_are_found(audit):
    table = audit.tables.log
    # Rows 2 and 5 trade places: each keeps its content under the other's number.
    await _change(audit, update(table).where(table.c.seq == 2).values(seq=-2))
    await _change(audit, update(table).where(table.c.seq == 5).values(seq=2))
    await _change(audit, update(table).where(table.c.seq == -2).values(seq=5))
    result = await audit.verify()
    assert (result.valid, result.first_broken) == (False, 2)


async def test_a_row_pointing_elsewhere_is_found(audit):
    table = audit.tables.log
    await _change(audit, update(table).where(table.c.seq == 3).values(prev_hash="0" * 64))
    result = await audit.verify()
    assert (result.valid, result.first_broken, result.reason) == (False, 3, "relinked")
