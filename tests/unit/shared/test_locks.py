"""The lock replicas take to create something once: on PostgreSQL a second holder of the same
name waits until the first transaction ends; another name does not wait."""

from __future__ import annotations

import asyncio

import pytest

from simpul.shared.db import create_engine, session_factory
from simpul.shared.locks import hold_for_transaction
from tests.support.databases import postgres_server

pytestmark = pytest.mark.skipif(postgres_server() is None, reason="SIMPUL_TEST_POSTGRES not set")


async def test_a_second_holder_waits_for_the_first_transaction_to_end(databases):
    engine = create_engine(await databases.url("locks"))
    sessions = session_factory(engine)
    order: list[str] = []
    first_holds = asyncio.Event()

    async def first() -> None:
        async with sessions.begin() as session:
            await hold_for_transaction(session, "made once")
            first_holds.set()
            await asyncio.sleep(0.3)
            order.append("first done")

    async def second(name: str) -> None:
        await first_holds.wait()
        async with sessions.begin() as session:
            await hold_for_transaction(session, name)
            order.append(f"{name} held")

    try:
        await asyncio.gather(first(), second("made once"), second("something else"))
    finally:
        await engine.dispose()
    assert order == ["something else held", "first done", "made once held"]
