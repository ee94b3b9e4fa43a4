"""Audit heads timestamped by the signatures service's TSA: a token covers its own head only,
and a stamp finds a tail cut off behind it."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from simpul.shared.audit import HASHED_FIELDS, row_hash, stamp_covers, timestamp_request, token_of
from simpul.shared.identity import Identity
from simpul.signatures import pki
from simpul.signatures.tsa import TimestampAuthority
from tests.support.audit import audit_log_with


@pytest.fixture
def authority(test_pki) -> TimestampAuthority:
    return TimestampAuthority(pki.der(test_pki.tsa), test_pki.tsa_key, chain=(pki.der(test_pki.issuing),))


@pytest.fixture
async def audit(tmp_path):
    async with audit_log_with(tmp_path, Identity(subject="admin-1", role="admin"), "document.revoked", "document",
                              ["d0", "d1", "d2"]) as log:
        yield log


def test_a_token_covers_only_its_own_head(authority):
    head = "ab" * 32
    token = token_of(authority.respond(timestamp_request(head)))
    assert stamp_covers(token, head)
    assert not stamp_covers(token, "cd" * 32)
    assert not stamp_covers(b"not a token", head)


def test_a_refused_request_gives_no_token(authority):
    with pytest.raises(ValueError):
        token_of(authority.respond(b"garbage"))


async def test_a_head_is_stamped_once(audit, authority):
    async def timestamp(request_der: bytes) -> bytes:
        return authority.respond(request_der)

    assert await audit.stamp_head(timestamp) == 3
    assert await audit.stamp_head(timestamp) is None
    assert (await audit.verify()).valid


async def test_a_tail_cut_off_behind_a_stamp_is_found(audit, authority):
    async def timestamp(request_der: bytes) -> bytes:
        return authority.respond(request_der)

    await audit.stamp_head(timestamp)
    async with audit.sessions.begin() as session:
        await session.execute(delete(audit.tables.log).where(audit.tables.log.c.seq == 3))
    result = await audit.verify()
    assert (result.valid, result.first_broken, result.reason) == (False, 3, "missing")


async def test_a_stamp_over_another_head_is_found(audit, authority):
    async def timestamp(request_der: bytes) -> bytes:
        return authority.respond(timestamp_request("00" * 32))

    with pytest.raises(ValueError):
        await audit.stamp_head(timestamp)
    async with audit.read_sessions() as session:
        assert (await session.execute(select(audit.tables.stamps))).first() is None


async def test_a_consistently_rewritten_chain_is_found_by_the_stamp(audit, authority):
    """Whoever rewrites a row and recomputes every hash after it keeps the chain whole, but not
    the stamp of the head."""
    async def timestamp(request_der: bytes) -> bytes:
        return authority.respond(request_der)

    await audit.stamp_head(timestamp)
    table = audit.tables.log
    async with audit.sessions.begin() as session:
        rows = (await session.execute(select(table).order_by(table.c.seq))).all()
        prev_hash = rows[0].hash
        for row in rows[1:]:
            fields = {name: getattr(row, name) for name in HASHED_FIELDS}
            fields.update(prev_hash=prev_hash, object_id="forged" if row.seq == 2 else row.object_id)
            prev_hash = row_hash(**fields)
            await session.execute(update(table).where(table.c.seq == row.seq).values(
                prev_hash=fields["prev_hash"], object_id=fields["object_id"], hash=prev_hash))
    result = await audit.verify()
    assert (result.valid, result.first_broken, result.reason) == (False, 3, "stamp")
