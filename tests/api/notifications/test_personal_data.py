"""Personal data (UU 27/2022) in notifications: officers' and admins' inbox reads recorded, the
erasure of a submission's mails and inbox data on `submission.personal_data_erased`, and the export
of one email the gateway gathers."""

from __future__ import annotations

import os
import stat

from tests.api.notifications.conftest import UNIT, admin, applicant, envelope, officer, service, submission_event
from tests.support.audit import audit_entries

EMAIL = "kotak@x.id"


def erased_event(submission_id: str, complaint_ids: list[str] | None = None) -> dict:
    return envelope("submission.personal_data_erased", f"submissions/{submission_id}", {
        "submission_id": submission_id, "complaint_ids": complaint_ids or [], "tenant": "31", "unit": UNIT,
        "at": "2031-01-01T00:00:00+00:00"})


async def export(harness, email: str = EMAIL, headers=None):
    return await harness.client.get(f"/internal/data-subjects/{email}", headers=headers or admin())


async def test_inbox_reads_export_and_erasure(start):
    async with start(smtp_host=None) as harness:
        first = submission_event("submission.submitted", email=EMAIL, submission_id="sub-erase")
        second = submission_event(email=EMAIL, submission_id="sub-erase")
        kept = submission_event(email=EMAIL, submission_id="sub-keep")
        other = submission_event(email="lain@x.id", submission_id="sub-other")
        assert (await harness.send(first, second, kept, other))["processed"] == 4

        async def delivered():
            return all([(await harness.channel(e["id"], "email"))["status"] == "delivered"
                        for e in (first, kept, other)])

        await harness.eventually(delivered, message="mails not in the mailbox")
        mailbox = harness.settings.data_dir / "mailbox"
        files = list(mailbox.glob("*.eml"))
        # Mail names people: not readable by other local users, even in a process without umask 077.
        assert stat.S_IMODE(os.stat(mailbox).st_mode) == 0o700
        assert all(stat.S_IMODE(os.stat(path).st_mode) == 0o600 for path in files)

        # The applicant reading its region's inbox is not recorded; the unit's officer is.
        assert len(await harness.inbox(applicant("31"))) == 4
        assert len(await harness.inbox(officer(UNIT), submission_id="sub-erase")) == 2

        body = (await export(harness, "Kotak@X.id")).json()
        assert sorted({n["submission_id"] for n in body["notifications"]}) == ["sub-erase", "sub-keep"]
        mails = [d for d in body["deliveries"] if d["channel"] == "email"]
        assert {d["recipient"] for d in mails} == {EMAIL} and all(d["content"]["subject"] for d in mails)
        # The officer's two entries; the admin's reads (harness.channel reads the whole inbox) too.
        assert [(r["resource"], r["submission_id"]) for r in body["reads"] if r["reader"]["role"] == "officer"] == [
            ("inbox", "sub-erase"), ("inbox", "sub-erase")]
        assert {r["reader"]["role"] for r in body["reads"]} == {"officer", "admin"}
        assert "lain@x.id" not in str(body)

        response = await harness.client.post("/internal/events", json=erased_event("sub-erase"), headers=service())
        assert response.json()["processed"] == 1
        # Another erasure of it finds nothing left; its redelivery does nothing at all.
        redelivered = erased_event("sub-erase")
        assert (await harness.send(redelivered))["processed"] == 1
        assert (await harness.send(redelivered))["duplicate"] == 1

        remaining = sorted(path.name for path in mailbox.glob("*.eml"))
        assert len(files) == 4 and len(remaining) == 2  # the two mails about sub-erase are gone
        assert sorted(path.name for path in files if path.name not in remaining) == sorted(
            f"{d['id']}.eml" for d in mails if d["notification_id"] in
            {n["id"] for n in body["notifications"] if n["submission_id"] == "sub-erase"})
        items = await harness.inbox(admin(), submission_id="sub-erase")
        assert len(items) == 2
        for item in items:
            assert item["data"]["personal_data_erased"] is True and "applicant" not in item["data"]
            assert all(channel["recipient"].endswith("@erased.invalid") for channel in item["channels"]
                       if channel["channel"] == "email")
        after = (await export(harness)).json()
        assert {n["submission_id"] for n in after["notifications"]} == {"sub-keep"}
        assert "sub-erase" not in {r["submission_id"] for r in after["reads"]}
        entries = [e for e in await audit_entries(harness.client, "notifications", admin())
                   if e["action"] == "submission.personal_data_erased"]
        assert len(entries) == 2 and entries[0]["object"]["id"] == "sub-erase"
        assert entries[0]["details"]["mailbox_files_deleted"] == 2 and EMAIL not in str(entries)


async def test_the_export_checks_its_caller_and_the_email(harness):
    assert (await export(harness, "nobody@x.id")).json() == {"notifications": [], "deliveries": [], "reads": []}
    garbage = await export(harness, "garbage")
    assert garbage.status_code == 422 and garbage.json()["errors"][0]["field"] == "email"
    assert (await export(harness, headers=officer())).status_code == 403
    assert (await export(harness, headers=service())).status_code == 403
