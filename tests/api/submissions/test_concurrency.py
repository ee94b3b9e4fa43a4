"""Concurrent changes to one submission: exactly one wins, the other gets 409."""

from __future__ import annotations

import asyncio

from tests.api.submissions.conftest import JPEG, PDF, admin, applicant


async def test_approve_and_reject_fired_together(harness):
    for _ in range(5):
        submitted = await harness.submitted()
        sid = submitted["id"]
        await harness.act(sid, "start_review")
        approve, reject = await asyncio.gather(
            harness.act(sid, "approve", "ok"), harness.act(sid, "reject", "tidak lengkap")
        )
        codes = sorted([approve.status_code, reject.status_code])
        assert codes == [200, 409], (approve.text, reject.text)
        winner = approve if approve.status_code == 200 else reject
        loser = reject if winner is approve else approve
        assert loser.json()["current_status"] in ("approved", "rejected", "issued")
        entries = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=admin())).json()["items"]
        decisions = [e for e in entries if e["action"] in ("approve", "reject")]
        assert len(decisions) == 1
        assert decisions[0]["to"] == winner.json()["status"]


async def test_many_identical_actions_together_change_once(harness):
    submitted = await harness.submitted()
    sid = submitted["id"]
    responses = await asyncio.gather(*(harness.act(sid, "start_review") for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    after = (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()
    assert after["version"] == submitted["version"] + 1


async def test_submit_and_cancel_together(harness):
    draft = await harness.create()
    await harness.upload(draft["id"], "ktp", JPEG)
    await harness.upload(draft["id"], "domicile", PDF)
    submit, cancel = await asyncio.gather(
        harness.client.post(f"/v1/submissions/{draft['id']}/submit", headers=applicant()),
        harness.client.post(f"/v1/submissions/{draft['id']}/cancel", headers=applicant()),
    )
    # Cancel is allowed after submit too, so both may succeed in order; never a lost update.
    entries = (await harness.client.get(f"/v1/submissions/{draft['id']}/history", headers=admin())).json()["items"]
    moves = [(e["from"], e["to"]) for e in entries if e["action"] in ("submit", "cancel")]
    for (_, to), (source, _) in zip(moves, moves[1:]):
        assert to == source
    final = (await harness.client.get(f"/v1/submissions/{draft['id']}", headers=admin())).json()["status"]
    assert final == moves[-1][1]
    assert sum(r.status_code == 200 for r in (submit, cancel)) == len(moves)


async def test_concurrent_uploads_for_one_requirement_leave_one_current(harness):
    draft = await harness.create()
    contents = [JPEG + bytes([i]) * 10 for i in range(5)]
    responses = await asyncio.gather(*(harness.upload(draft["id"], "ktp", c) for c in contents))
    assert all(r.status_code == 201 for r in responses)
    every = (
        await harness.client.get(f"/v1/submissions/{draft['id']}/documents?include_replaced=true", headers=applicant())
    ).json()["items"]
    current = [d for d in every if d["replaced_at"] is None]
    assert len(every) == 5 and len(current) == 1
    # Each replaced one points at the one after it: a single chain, nothing lost.
    replaced_by = {d["id"]: d["replaced_by"] for d in every}
    chain = [current[0]["id"]]
    while True:
        previous = [i for i, nxt in replaced_by.items() if nxt == chain[-1]]
        if not previous:
            break
        chain.append(previous[0])
    assert len(chain) == 5
