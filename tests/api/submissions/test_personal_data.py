"""Personal data (UU 27/2022) in the submissions service: officers' and admins' reads recorded and
shown to the data subject, closed submissions pseudonymised once their retention period is over
(clock moved by the test), and the export of one email the gateway gathers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from simpul.shared.identity import Official
from tests.api.submissions.conftest import JPEG, PDF, admin, applicant, officer
from tests.api.submissions.fakes import UNIT
from tests.support.audit import audit_entries
from tests.support.identity import as_role

EMAIL = "siti@example.go.id"
SIGNER = Official(id="01J0000000000000000000000A", nip="198001012005011001", name="Budi Santoso",
                  position="Kepala Bagian Perizinan", roles=("reviewer",))


def official_officer() -> dict[str, str]:
    return as_role("submissions", "officer", UNIT, "officer-client-1", SIGNER)


async def reads_of(harness, submission_id: str, headers=None) -> list[dict]:
    response = await harness.client.get(f"/v1/submissions/{submission_id}/reads", headers=headers or applicant())
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()["items"]


async def export(harness, email: str = EMAIL, headers=None):
    return await harness.client.get(f"/internal/data-subjects/{email}", headers=headers or admin())


async def test_officials_reads_are_recorded_and_the_applicant_sees_who_read_what(harness):
    submitted = await harness.submitted()
    sid = submitted["id"]
    document = submitted["documents"][0]
    client = harness.client
    # The applicant reading its own data is not someone else reading it.
    assert (await client.get(f"/v1/submissions/{sid}", headers=applicant())).status_code == 200
    assert await reads_of(harness, sid) == []

    assert (await client.get(f"/v1/submissions/{sid}", headers=official_officer())).status_code == 200
    assert (await client.get(f"/v1/submissions/{sid}/history", headers=officer())).status_code == 200
    assert (await client.get(f"/v1/submissions/{sid}/documents", headers=officer())).status_code == 200
    content = await client.get(f"/v1/submissions/{sid}/documents/{document['id']}/content", headers=officer())
    assert content.status_code == 200
    assert (await client.get("/v1/submissions", headers=admin())).status_code == 200
    # A read refused (another unit's officer) leaves nothing: the data was not shown.
    assert (await client.get(f"/v1/submissions/{sid}", headers=officer("KEU-LAIN"))).status_code == 404

    reads = await reads_of(harness, sid)
    assert [read["resource"] for read in reads] == [
        "submission", "history", "documents", "document_content", "submission_list"]
    first = reads[0]
    assert first["reader"] == {"client_id": "officer-client-1", "role": "officer", "unit": UNIT,
                               "official": {"nip": SIGNER.nip, "name": SIGNER.name, "position": SIGNER.position}}
    assert first["request_id"] and first["submission_id"] == sid and first["at"]
    assert reads[-1]["reader"]["role"] == "admin" and reads[-1]["reader"]["official"] is None
    # Paged like every list; the subject's own region only; admins too; not the officers read about.
    page = (await client.get(f"/v1/submissions/{sid}/reads?limit=2", headers=applicant())).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert (await client.get(f"/v1/submissions/{sid}/reads", headers=applicant("32"))).status_code == 404
    assert (await client.get(f"/v1/submissions/{sid}/reads", headers=admin())).status_code == 200
    assert (await client.get(f"/v1/submissions/{sid}/reads", headers=officer())).status_code == 403


async def test_complaint_reads_are_recorded_under_the_submission(harness):
    submitted = await harness.submitted()
    filed = await harness.client.post("/v1/complaints", headers=applicant(), json={
        "submission_id": submitted["id"], "category": "timeliness", "text": "Belum ada kabar."})
    assert filed.status_code == 201, filed.text
    assert (await harness.client.get(f"/v1/complaints/{filed.json()['id']}", headers=officer())).status_code == 200
    reads = await reads_of(harness, submitted["id"])
    assert [(r["resource"], r["complaint_id"]) for r in reads] == [("complaint", filed.json()["id"])]


class TestRetention:
    @pytest.fixture
    def harness_overrides(self):
        return {"personal_data_retention_days": 30}

    async def closed(self, harness, *, content: bytes | None = None) -> dict:
        """A rejected submission whose files no other one holds (unless `content` is shared)."""
        marker = uuid.uuid4().bytes
        created = await harness.create()
        for code, file in (("ktp", JPEG + marker), ("domicile", content or PDF + marker)):
            assert (await harness.upload(created["id"], code, file)).status_code == 201
        assert (await harness.client.post(f"/v1/submissions/{created['id']}/submit", headers=applicant())).status_code == 200
        assert (await harness.act(created["id"], "start_review")).status_code == 200
        assert (await harness.act(created["id"], "reject", "Persyaratan tidak sesuai")).status_code == 200
        return (await harness.client.get(f"/v1/submissions/{created['id']}", headers=applicant())).json()

    async def test_a_closed_submission_is_pseudonymised_after_its_standards_period(self, harness):
        eraser = harness.app.state.eraser
        await harness.app.state.retention.stop()  # the test runs the rounds, at the times it sets
        harness.catalog.publish("IZIN-USAHA", personal_data_retention_days=2)
        rejected = await self.closed(harness)
        sid = rejected["id"]
        open_one = await harness.submitted()  # not closed: kept whatever the time
        filed = await harness.client.post("/v1/complaints", headers=applicant(), json={
            "submission_id": sid, "category": "timeliness", "text": "Mengapa ditolak?"})
        complaint_id = filed.json()["id"]
        evidence = PDF + uuid.uuid4().bytes
        attached = await harness.client.post(f"/v1/complaints/{complaint_id}/attachments", headers=applicant(),
                                             files={"file": ("bukti.pdf", evidence, "application/pdf")})
        assert attached.status_code == 201, attached.text
        attachment = f"/v1/complaints/{complaint_id}/attachments/{attached.json()['id']}"
        assert (await harness.client.get(f"{attachment}/content", headers=officer())).content == evidence
        assert (await harness.client.get(f"/v1/submissions/{sid}", headers=officer())).status_code == 200
        files = [d["sha256"] for d in rejected["documents"]] + [attached.json()["sha256"]]
        store = eraser.store
        assert all(Path(store.path_for(sha256)).exists() for sha256 in files)

        assert await eraser.erase_due() == 0  # scheduled: closed now, erased in two days
        harness.clock.advance(timedelta(days=1, hours=23))
        assert await eraser.erase_due() == 0
        harness.clock.advance(timedelta(hours=2))
        assert await eraser.erase_due() == 1
        assert await eraser.erase_due() == 0  # done once

        body = (await harness.client.get(f"/v1/submissions/{sid}", headers=applicant())).json()
        pseudonym = body["applicant"]["name"]
        assert pseudonym.startswith("erased-") and body["applicant"]["email"] == f"{pseudonym}@erased.invalid"
        assert body["applicant"]["phone"] is None and body["applicant"]["agency"] is None
        assert body["data"] == {} and body["personal_data_erased_at"]
        # The record stays: status, receipt, history, the documents' hashes.
        assert body["status"] == "rejected" and body["receipt"]["number"] == rejected["receipt"]["number"]
        assert [d["sha256"] for d in body["documents"]] == files[:2]
        assert all(d["content_erased_at"] and d["filename"] is None for d in body["documents"])
        assert (await harness.client.get(f"{attachment}/content", headers=applicant())).status_code == 410
        history = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=applicant())).json()["items"]
        assert [e["action"] for e in history] == ["create", "upload_document", "upload_document", "submit",
                                                 "start_review", "reject"]
        gone = await harness.client.get(f"/v1/submissions/{sid}/documents/{body['documents'][0]['id']}/content",
                                        headers=applicant())
        assert gone.status_code == 410 and gone.json()["type"].endswith("personal-data-erased")
        assert not any(Path(store.path_for(sha256)).exists() for sha256 in files)
        complaint = (await harness.client.get(f"/v1/complaints/{complaint_id}", headers=applicant())).json()
        assert complaint["complainant"]["email"] == body["applicant"]["email"]
        # The export by the old email finds nothing any more; the reads stay, under the pseudonym.
        assert [s["id"] for s in (await export(harness)).json()["submissions"]] == [open_one["id"]]
        assert [r["resource"] for r in await reads_of(harness, sid)] == ["complaint_attachment", "submission"]

        for _ in range(100):
            erased_events = [e for e in harness.published.events if e["type"] == "submission.personal_data_erased"]
            if erased_events:
                break
            await asyncio.sleep(0.02)
        assert erased_events[0]["data"]["submission_id"] == sid
        assert erased_events[0]["data"]["complaint_ids"] == [complaint_id]
        assert EMAIL not in str(erased_events[0])
        entry = [e for e in await audit_entries(harness.client, "submissions", admin())
                 if e["action"] == "submission.personal_data_erased"]
        assert len(entry) == 1 and entry[0]["object"]["id"] == sid
        assert entry[0]["details"]["files_deleted"] == 3 and EMAIL not in str(entry)
        assert (await harness.client.get(f"/v1/submissions/{open_one['id']}", headers=applicant())).json()[
            "applicant"]["email"] == EMAIL

    async def test_without_a_period_of_its_own_the_service_default_applies(self, harness):
        eraser = harness.app.state.eraser
        await harness.app.state.retention.stop()
        sid = (await self.closed(harness))["id"]
        await eraser.erase_due()
        harness.clock.advance(timedelta(days=29))
        assert await eraser.erase_due() == 0
        harness.clock.advance(timedelta(days=1, minutes=1))
        assert await eraser.erase_due() == 1
        assert (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()["personal_data_erased_at"]

    async def test_a_file_another_live_submission_holds_is_kept(self, harness):
        eraser = harness.app.state.eraser
        await harness.app.state.retention.stop()
        harness.catalog.publish("IZIN-USAHA", personal_data_retention_days=0)
        shared = PDF + b"same bytes in both"
        first = await self.closed(harness, content=shared)
        second = await harness.create()
        assert (await harness.upload(second["id"], "domicile", shared)).status_code == 201
        assert await eraser.erase_due() == 1  # a period of 0 days: due at its closing
        kept = [d["sha256"] for d in first["documents"] if d["requirement_code"] == "domicile"][0]
        assert Path(eraser.store.path_for(kept)).exists()
        content = await harness.client.get(
            f"/v1/submissions/{second['id']}/documents", headers=applicant())
        document_id = content.json()["items"][0]["id"]
        assert (await harness.client.get(f"/v1/submissions/{second['id']}/documents/{document_id}/content",
                                         headers=applicant())).content == shared

    async def test_replicas_erasing_at_once_erase_each_submission_once(self, harness):
        eraser = harness.app.state.eraser
        await harness.app.state.retention.stop()
        harness.catalog.publish("IZIN-USAHA", personal_data_retention_days=0)
        ids = [(await self.closed(harness))["id"] for _ in range(4)]
        assert sum(await asyncio.gather(eraser.erase_due(), eraser.erase_due(), eraser.erase_due())) == len(ids)
        entries = [e for e in await audit_entries(harness.client, "submissions", admin())
                   if e["action"] == "submission.personal_data_erased"]
        assert sorted(e["object"]["id"] for e in entries) == sorted(ids)

    async def test_the_worker_erases_on_its_own(self, harness):
        harness.catalog.publish("IZIN-USAHA", personal_data_retention_days=0)
        sid = (await self.closed(harness))["id"]
        worker = harness.app.state.retention
        for _ in range(200):
            worker.wake()
            body = (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()
            if body.get("personal_data_erased_at"):
                break
            await asyncio.sleep(0.02)
        assert body["applicant"]["email"].endswith("@erased.invalid")


async def test_the_export_of_one_email(harness):
    submitted = await harness.submitted()
    sid = submitted["id"]
    other = await harness.create(applicant={"name": "Orang Lain", "email": "lain@example.go.id"})
    filed = await harness.client.post("/v1/complaints", headers=applicant(), json={
        "submission_id": sid, "category": "timeliness", "text": "Belum ada kabar."})
    assert (await harness.client.get(f"/v1/submissions/{sid}", headers=official_officer())).status_code == 200

    response = await export(harness, "Siti@Example.go.id")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == EMAIL
    assert [s["id"] for s in body["submissions"]] == [sid]
    exported = body["submissions"][0]
    assert exported["applicant"]["email"] == EMAIL and exported["data"] == submitted["data"]
    assert [e["action"] for e in exported["history"]] == ["create", "upload_document", "upload_document", "submit"]
    assert sorted(d["requirement_code"] for d in exported["documents"]) == ["domicile", "ktp"]
    assert [c["id"] for c in body["complaints"]] == [filed.json()["id"]]
    assert body["complaints"][0]["history"][0]["action"] == "file"
    assert body["surveys"] == []
    assert [(r["resource"], r["reader"]["official"]["nip"]) for r in body["reads"]] == [("submission", SIGNER.nip)]
    assert other["id"] not in str(body)
    # The export was itself a read of that person's data, by the admin who asked.
    reads = await reads_of(harness, sid)
    assert reads[-1]["resource"] == "data_subject_export" and reads[-1]["reader"]["role"] == "admin"

    unknown = await export(harness, "nobody@example.go.id")
    assert unknown.status_code == 200
    assert unknown.json() == {"email": "nobody@example.go.id", "submissions": [], "complaints": [], "surveys": [],
                              "reads": []}
    garbage = await export(harness, "not-an-email")
    assert garbage.status_code == 422 and garbage.json()["errors"][0]["field"] == "email"
    assert (await export(harness, headers=officer())).status_code == 403
    assert (await export(harness, headers=applicant())).status_code == 403
