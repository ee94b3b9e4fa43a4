"""Uploads: streamed, sniffed, limited, replaced with history kept, downloadable by the right people."""

from __future__ import annotations

import hashlib

from tests.api.submissions.conftest import JPEG, OTHER_UNIT, PDF, PNG, admin, applicant, officer

BOUNDARY = "simpul-test-boundary"


def streamed_upload(code: str | None, chunks: int, chunk: bytes, consumed: list[int], *, code_after_file=False):
    """A multipart body produced lazily, counting how much of it the server pulled."""

    def field(name: str, value: str) -> bytes:
        return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()

    async def body():
        if code is not None and not code_after_file:
            yield field("requirement_code", code)
        yield (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        for _ in range(chunks):
            consumed[0] += len(chunk)
            yield chunk
        yield b"\r\n"
        if code is not None and code_after_file:
            yield field("requirement_code", code)
        yield f"--{BOUNDARY}--\r\n".encode()

    return body()


async def test_upload_answers_hash_size_and_sniffed_type(harness):
    draft = await harness.create()
    response = await harness.upload(draft["id"], "ktp", PNG, filename="../../etc/ktp.png")
    assert response.status_code == 201
    body = response.json()
    assert body["requirement_code"] == "ktp"
    assert body["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert body["size"] == len(PNG)
    assert body["content_type"] == "image/png"  # the client claimed application/octet-stream
    assert body["filename"] == "ktp.png"


async def test_type_is_judged_by_the_bytes_not_the_header(harness):
    draft = await harness.create()
    fake_pdf = await harness.client.post(
        f"/v1/submissions/{draft['id']}/documents",
        data={"requirement_code": "domicile"},
        files={"file": ("surat.pdf", b"MZ\x90\x00 this is an executable", "application/pdf")},
        headers={**applicant(), "Accept-Language": "en"},
    )
    assert fake_pdf.status_code == 415
    assert "application/octet-stream" in fake_pdf.json()["detail"]
    png_as_pdf = await harness.upload(draft["id"], "domicile", PNG)
    assert png_as_pdf.status_code == 415
    wildcard = await harness.upload(draft["id"], "photo", JPEG)  # image/* accepts any image
    assert wildcard.status_code == 201 and wildcard.json()["content_type"] == "image/jpeg"


async def test_too_large_stops_reading(harness):
    draft = await harness.create()
    consumed = [0]
    response = await harness.client.post(
        f"/v1/submissions/{draft['id']}/documents",
        content=streamed_upload("ktp", 1000, b"%PDF-" + b"x" * 9995, consumed),
        headers={**applicant(), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    # ktp allows 200 kB: the server stopped pulling soon after, far from the 10 MB offered.
    assert consumed[0] < 300_000


async def test_too_large_when_the_code_comes_after_the_file(harness):
    draft = await harness.create()
    consumed = [0]
    # Without the code first only the largest limit of the service (1 MB) can apply while reading...
    response = await harness.client.post(
        f"/v1/submissions/{draft['id']}/documents",
        content=streamed_upload("ktp", 1000, b"%PDF-" + b"x" * 9995, consumed, code_after_file=True),
        headers={**applicant(), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 413
    assert consumed[0] < 1_100_000
    # ...and the requirement's own limit once the code is known.
    consumed = [0]
    response = await harness.client.post(
        f"/v1/submissions/{draft['id']}/documents",
        content=streamed_upload("ktp", 30, b"%PDF-" + b"x" * 9995, consumed, code_after_file=True),
        headers={**applicant(), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 413
    documents = (await harness.client.get(f"/v1/submissions/{draft['id']}/documents", headers=applicant())).json()
    assert documents["items"] == []


async def test_declared_length_over_the_ceiling_is_refused_before_reading(harness):
    draft = await harness.create()
    response = await harness.client.post(
        f"/v1/submissions/{draft['id']}/documents",
        content=b"x" * 10,
        headers={**applicant(), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": "50000000"},
    )
    assert response.status_code == 413


async def test_exactly_the_limit_is_accepted(harness):
    draft = await harness.create()
    content = JPEG + b"\x00" * (200_000 - len(JPEG))
    assert (await harness.upload(draft["id"], "ktp", content)).status_code == 201
    assert (await harness.upload(draft["id"], "ktp", content + b"\x00")).status_code == 413


async def test_bad_uploads(harness):
    draft = await harness.create()
    sid = draft["id"]
    unknown = await harness.upload(sid, "passport", PDF)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "requirement_code"
    empty = await harness.upload(sid, "domicile", b"")
    assert empty.status_code == 422
    not_multipart = await harness.client.post(f"/v1/submissions/{sid}/documents", json={"a": 1}, headers=applicant())
    assert not_multipart.status_code == 415
    no_file = await harness.client.post(
        f"/v1/submissions/{sid}/documents", data={"requirement_code": "ktp"}, files={"other": ("x", b"y")},
        headers=applicant(),
    )
    assert no_file.status_code == 422
    broken = await harness.client.post(
        f"/v1/submissions/{sid}/documents",
        content=b"--b\r\ngarbage without headers end",
        headers={**applicant(), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code in (400, 422)
    assert (await harness.client.get(f"/v1/submissions/{sid}/documents", headers=applicant())).json()["items"] == []


async def test_replacing_keeps_the_old_one_and_download_rights(harness):
    draft = await harness.create()
    sid = draft["id"]
    first = (await harness.upload(sid, "domicile", PDF)).json()
    second_content = PDF + b"% version 2\n"
    second = (await harness.upload(sid, "domicile", second_content)).json()
    current = (await harness.client.get(f"/v1/submissions/{sid}/documents", headers=applicant())).json()["items"]
    assert [d["id"] for d in current] == [second["id"]]
    every = (
        await harness.client.get(f"/v1/submissions/{sid}/documents?include_replaced=true", headers=applicant())
    ).json()["items"]
    assert [d["id"] for d in every] == [first["id"], second["id"]]
    assert every[0]["replaced_by"] == second["id"] and every[0]["replaced_at"]

    for headers in (applicant(), officer(), admin()):
        old = await harness.client.get(f"/v1/submissions/{sid}/documents/{first['id']}/content", headers=headers)
        assert old.status_code == 200 and old.content == PDF
        assert old.headers["content-type"] == "application/pdf"
        assert old.headers["x-content-type-options"] == "nosniff"
    new = await harness.client.get(f"/v1/submissions/{sid}/documents/{second['id']}/content", headers=applicant())
    assert new.content == second_content
    for outsider in (applicant("32"), officer(OTHER_UNIT)):
        denied = await harness.client.get(f"/v1/submissions/{sid}/documents/{first['id']}/content", headers=outsider)
        assert denied.status_code == 404
    assert (
        await harness.client.get(f"/v1/submissions/{sid}/documents/{first['id']}/content", headers=applicant("32"))
    ).status_code == 404


async def test_same_content_is_stored_once(harness):
    a = await harness.create()
    b = await harness.create()
    await harness.upload(a["id"], "domicile", PDF)
    await harness.upload(b["id"], "domicile", PDF)
    store = harness.app.state.submissions.store
    sha = hashlib.sha256(PDF).hexdigest()
    assert store.path_for(sha).read_bytes() == PDF
    assert [p.name for p in store.root.rglob(sha)] == [sha]
    assert list(store.tmp_dir.iterdir()) == []


async def test_no_uploads_once_submitted(harness):
    submitted = await harness.submitted()
    response = await harness.upload(submitted["id"], "photo", JPEG)
    assert response.status_code == 409
    assert "submitted" in response.json()["detail"]


async def test_idempotent_upload(harness):
    draft = await harness.create()
    # A retry resends the same bytes, boundary included.
    headers = {
        **applicant(subject="uploader"),
        "Idempotency-Key": "upload-ktp-1",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    files = {"file": ("ktp.jpg", JPEG, "image/jpeg")}
    path = f"/v1/submissions/{draft['id']}/documents"
    one = await harness.client.post(path, data={"requirement_code": "ktp"}, files=files, headers=headers)
    two = await harness.client.post(path, data={"requirement_code": "ktp"}, files=files, headers=headers)
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] == two.json()["id"]
    every = (
        await harness.client.get(f"/v1/submissions/{draft['id']}/documents?include_replaced=true", headers=applicant())
    ).json()["items"]
    assert len(every) == 1


async def test_a_second_file_is_refused_and_nothing_is_kept(harness):
    draft = await harness.create()
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"requirement_code\"\r\n\r\nktp\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n"
    ).encode() + JPEG + (
        f"\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.pdf\"\r\n\r\n"
    ).encode() + PDF + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = await harness.client.post(
        f"/v1/submissions/{draft['id']}/documents",
        content=body,
        headers={**applicant(), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"
    assert (await harness.client.get(f"/v1/submissions/{draft['id']}/documents", headers=applicant())).json()["items"] == []
    assert list(harness.app.state.submissions.store.tmp_dir.iterdir()) == []
