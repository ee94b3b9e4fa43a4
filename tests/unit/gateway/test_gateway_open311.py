"""The gateway's part of the Open311 facade: api_key moved into the bearer header and out of the
query and body, and problem+json answers rendered as GeoReport's error list."""

from __future__ import annotations

import orjson
import pytest

from simpul.gateway.open311 import BodyTooLarge, Open311Errors, georeport_errors, with_api_key_as_bearer


def scope_of(method: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http", "method": method, "path": "/open311/v2/requests.json", "query_string": query,
            "headers": headers}


def receiving(*chunks: bytes):
    messages = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
                for index, chunk in enumerate(chunks)]

    async def receive():
        return messages.pop(0)

    return receive


async def body_of(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def test_the_query_api_key_becomes_the_bearer_token_and_leaves_the_query():
    scope = scope_of("GET", b"status=open&api_key=tok.en.jwt&service_code=A", [(b"authorization", b"Bearer old")])
    taken = await with_api_key_as_bearer(scope, receiving(b""), 1024)
    assert taken is not None and taken[0] is scope
    assert scope["query_string"] == b"status=open&service_code=A"
    assert [value for name, value in scope["headers"] if name == b"authorization"] == [b"Bearer tok.en.jwt"]


async def test_the_form_api_key_leaves_the_body_with_its_length():
    body = b"service_code=A&api_key=tok.en.jwt&attribute%5Bperihal%5D=Izin+uji&first_name=Andr%C3%A9"
    scope = scope_of("POST", b"", [(b"content-type", b"application/x-www-form-urlencoded"),
                                   (b"content-length", str(len(body)).encode())])
    scope, receive = await with_api_key_as_bearer(scope, receiving(body[:20], body[20:]), 1024)
    forwarded = await body_of(receive)
    assert b"api_key" not in forwarded and b"tok.en.jwt" not in forwarded
    assert forwarded == b"service_code=A&attribute%5Bperihal%5D=Izin+uji&first_name=Andr%C3%A9"
    assert dict(scope["headers"])[b"content-length"] == str(len(forwarded)).encode()
    assert dict(scope["headers"])[b"authorization"] == b"Bearer tok.en.jwt"


async def test_without_an_api_key_nothing_changes_and_a_large_form_is_refused():
    scope = scope_of("GET", b"status=open", [(b"authorization", b"Bearer mine")])
    await with_api_key_as_bearer(scope, receiving(b""), 1024)
    assert scope["query_string"] == b"status=open" and dict(scope["headers"])[b"authorization"] == b"Bearer mine"
    large = scope_of("POST", b"", [(b"content-type", b"application/x-www-form-urlencoded")])
    with pytest.raises(BodyTooLarge):
        await with_api_key_as_bearer(large, receiving(b"a" * 600, b"b" * 600), 1024)


def test_a_problem_becomes_one_entry_or_one_per_invalid_field():
    assert orjson.loads(georeport_errors(404, b'{"title": "Not Found", "detail": "No service X"}')) == [
        {"code": 404, "description": "No service X"}]
    assert orjson.loads(georeport_errors(400, orjson.dumps({"detail": "bad", "errors": [
        {"field": "attribute[a]", "message": "is required"}, {"field": "email", "message": "not an email"}]}))) == [
        {"code": 400, "description": "attribute[a]: is required"}, {"code": 400, "description": "email: not an email"}]
    assert orjson.loads(georeport_errors(502, b"not json")) == [{"code": 502, "description": "502"}]


async def test_only_problem_answers_are_rewritten_keeping_status_and_headers():
    sent = []

    async def send(message):
        sent.append(message)

    errors = Open311Errors(send)
    await errors({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/problem+json"), (b"content-length", b"30"), (b"www-authenticate", b"Bearer")]})
    await errors({"type": "http.response.body", "body": b'{"detail": "The access', "more_body": True})
    await errors({"type": "http.response.body", "body": b' token is not valid"}'})
    start, body = sent
    assert start["status"] == 401
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json" and headers[b"www-authenticate"] == b"Bearer"
    assert orjson.loads(body["body"]) == [{"code": 401, "description": "The access token is not valid"}]
    assert headers[b"content-length"] == str(len(body["body"])).encode()

    sent.clear()
    passing = Open311Errors(send)
    await passing({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await passing({"type": "http.response.body", "body": b"[]"})
    assert [message.get("body") for message in sent] == [None, b"[]"]
