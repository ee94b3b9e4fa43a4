"""The signing pool holds no worker process until there is something to sign, and lets its
workers go after an idle period: an idle service is one process."""

from __future__ import annotations

import asyncio

from simpul.signatures.jobs import SignJob
from simpul.signatures.workers import SigningPool


async def test_workers_start_with_the_first_document_and_stop_after_the_idle_period(test_pki, make_content):
    pool = SigningPool(workers=1, idle_seconds=0.2)
    job = SignJob(make_content(), test_pki.material(), tsa=None, validation=None)
    try:
        assert not pool.started
        first = await pool.sign(job, timeout=120)
        assert first.pades_level == "B-B" and first.pdf.startswith(b"%PDF-")
        assert pool.started
        # The retirement timer is due before this sleep ends: the loop runs timers in order.
        await asyncio.sleep(0.4)
        assert not pool.started
        again = await pool.sign(job, timeout=120)
        assert again.pdf.startswith(b"%PDF-")
        assert pool.started
    finally:
        await pool.close()
    assert not pool.started
