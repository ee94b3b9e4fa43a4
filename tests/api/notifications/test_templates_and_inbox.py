"""Templates edited by admins, previews, and the inbox's pages and filters."""

from __future__ import annotations

from tests.api.notifications.conftest import UNIT, admin, applicant, officer, submission_event

TYPES = ("submission.submitted", "submission.status_changed", "submission.issued", "complaint.updated",
         "submission.issue_failed", "submission.step_assigned", "submission.step_overdue",
         "payment.billed", "payment.paid", "payment.expired", "payment.mismatch", "payment.awaited")


async def test_every_event_type_has_a_template_in_both_languages(harness):
    response = await harness.client.get("/v1/templates", headers=admin())
    assert response.status_code == 200
    keys = {(item["event_type"], item["language"]) for item in response.json()["items"]}
    assert keys == {(event_type, language) for event_type in TYPES for language in ("id", "en")}
    for headers in (applicant("31"), officer(UNIT)):
        assert (await harness.client.get("/v1/templates", headers=headers)).status_code == 403
        assert (await harness.client.get("/v1/templates/submission.issued/id", headers=headers)).status_code == 403


async def test_an_edited_template_is_used_for_the_next_mail(harness, mail):
    body = {"subject": "[{{ tracking_code }}] {{ to_status | status }}",
            "text": "Halo {{ applicant.name }}", "html": "<p>Halo {{ applicant.name }}</p>"}
    saved = await harness.client.put("/v1/templates/submission.status_changed/id", json=body, headers=admin())
    assert saved.status_code == 200, saved.text
    assert saved.json()["updated_by"] == "admin-x"
    fetched = (await harness.client.get("/v1/templates/submission.status_changed/id", headers=admin())).json()
    assert {key: fetched[key] for key in body} == body

    event = submission_event(name="Budi <b>", language="id")
    await harness.send(event)
    await harness.eventually(lambda: mail.received())
    (message,) = mail.received()
    assert message["Subject"] == f"[{event['data']['tracking_code']}] sedang diperiksa"
    assert message.get_body(("plain",)).get_content().strip() == "Halo Budi <b>"
    assert message.get_body(("html",)).get_content().strip() == "<p>Halo Budi &lt;b&gt;</p>"


async def test_broken_or_unsafe_templates_are_refused(harness):
    valid = {"subject": "s", "text": "t", "html": "h"}
    cases = [
        ({**valid, "html": "{% if %}"}, "html"),
        ({**valid, "subject": "{{ no_such_thing }}"}, "template"),
        ({**valid, "text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}, "template"),
        ({**valid, "text": "{{ applicant.__class__ }}{{ tracking_code.format.__globals__ }}"}, "template"),
    ]
    for body, field in cases:
        response = await harness.client.put("/v1/templates/submission.submitted/en", json=body, headers=admin())
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field
    unknown = await harness.client.put("/v1/templates/document.issued/en", json=valid, headers=admin())
    assert unknown.status_code == 404
    bad_language = await harness.client.put("/v1/templates/submission.submitted/fr", json=valid, headers=admin())
    assert bad_language.status_code == 422
    extra = await harness.client.put("/v1/templates/submission.submitted/en", json={**valid, "x": 1},
                                     headers=admin())
    assert extra.status_code == 422


async def test_preview_renders_stored_templates_or_drafts(harness):
    stored = await harness.client.post("/v1/templates/submission.issued/en/preview", headers=admin())
    assert stored.status_code == 200, stored.text
    preview = stored.json()
    assert preview["subject"] == "The document for application SPL-7K2Q-9XMA has been issued"
    assert "http://127.0.0.1:8000/v1/verify/d-0001" in preview["text"]

    draft = await harness.client.post(
        "/v1/templates/submission.status_changed/id/preview",
        json={"html": "<p>{{ note }}</p>", "data": {"note": "<script>alert(1)</script>", "to": "approved"}},
        headers=admin())
    assert draft.status_code == 200, draft.text
    assert draft.json()["html"] == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert draft.json()["subject"].endswith(": disetujui")

    broken = await harness.client.post("/v1/templates/submission.issued/en/preview",
                                       json={"subject": "{{ missing }}"}, headers=admin())
    assert broken.status_code == 422
    # Previews change nothing.
    again = await harness.client.post("/v1/templates/submission.issued/en/preview", headers=admin())
    assert again.json() == preview


async def test_the_inbox_pages_newest_first_and_filters(harness):
    events = [submission_event("submission.submitted" if n % 2 else "submission.status_changed", tenant="31")
              for n in range(5)]
    await harness.send(*events)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await harness.client.get("/v1/notifications", params=params, headers=applicant("31"))
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["event_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [event["id"] for event in reversed(events)]

    submitted = await harness.inbox(applicant("31"), event_type="submission.submitted")
    assert [item["event_id"] for item in submitted] == [events[3]["id"], events[1]["id"]]
    one = await harness.inbox(applicant("31"), submission_id=events[2]["data"]["submission_id"])
    assert [item["event_id"] for item in one] == [events[2]["id"]]

    for cursor in ("not-a-cursor", "WyJ4Il0"):  # garbage, and a cursor holding a string
        response = await harness.client.get("/v1/notifications", params={"cursor": cursor}, headers=applicant("31"))
        assert response.status_code == 400
    assert (await harness.client.get("/v1/notifications", params={"limit": 500},
                                     headers=applicant("31"))).status_code == 422
    assert (await harness.client.get("/v1/notifications", headers=applicant(None))).json()["items"] == []
