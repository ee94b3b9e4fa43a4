"""Oversize JSON bodies and request heads through the gateway, for every operation of the OpenAPI
document that takes a JSON or form body: 413 (431 for the head) as problem+json (GeoReport v2's
error list on Open311 paths), from the gateway before any service reads it, and nothing written
anywhere. (Memory under such bodies, and heads refused by each process's own parser: test_limits.py.)"""

from __future__ import annotations

import socket
import time

import pytest

from tests.attacks.test_isolation_matrix import OBJECTS, operations
from tests.attacks.world import World, keyed, ok

pytestmark = pytest.mark.e2e

PARSED_WHOLE = ("application/json", "application/x-www-form-urlencoded")
OVER_ONE_MIB = 1024 * 1024 + 1


def concrete(world: World, path: str, prefixes: tuple[str, ...]) -> str:
    side, admin = world.sides["A"], world.callers[-1]
    for prefix in prefixes:
        path = path.replace(prefix[prefix.rindex("{"):], OBJECTS[prefix].shared(world, side, admin), 1)
    return path


def test_every_json_body_over_the_bound_is_413_at_the_gateway_and_writes_nothing(world):
    document = ok(world.anonymous.get("/openapi.json"))
    found, gaps = operations(document)
    assert not gaps, "\n".join(gaps)
    spec = {(operation.method, operation.path): document["paths"][operation.path][operation.method]
            for operation in found}
    bodied = [operation for operation in found
              if set(spec[(operation.method, operation.path)].get("requestBody", {}).get("content", {}))
              & set(PARSED_WHOLE)]
    assert len(bodied) >= 15, [operation.label for operation in bodied]
    before, refused = world.quiet_audit_heads(), []
    for operation in bodied:
        media_type = next(kind for kind in spec[(operation.method, operation.path)]["requestBody"]["content"]
                          if kind in PARSED_WHOLE)
        body = (b'{"text": "' + b"a" * OVER_ONE_MIB + b'"}' if media_type == "application/json"
                else b"grant_type=client_credentials&client_id=" + b"a" * OVER_ONE_MIB)
        path = concrete(world, operation.path, operation.object_prefixes)
        response = world.admin.request(operation.method.upper(), path, content=body,
                                       headers={"Content-Type": media_type, **keyed()})
        assert response.status_code == 413, (operation.label, response.status_code, response.text[:200])
        if operation.path.startswith("/open311/"):
            # GeoReport v2's error format (gateway/open311.py): [{"code", "description"}].
            assert response.headers["content-type"] == "application/json", operation.label
            assert [error["code"] for error in response.json()] == [413], operation.label
        else:
            assert response.headers["content-type"] == "application/problem+json", operation.label
        refused.append(response.headers["x-request-id"])
    assert world.audit_heads() == before
    # No service saw them: a request that reached one has its access line, under the request id
    # the client got back, in that service's log (shown for a call that does get through).
    through = world.admin.get("/v1/submissions").headers["x-request-id"]
    deadline = time.monotonic() + 10
    while through not in world.system["submissions"].log_path.read_text():
        assert time.monotonic() < deadline, "the submissions service logged no access line"
        time.sleep(0.1)
    logs = "".join(world.system[name].log_path.read_text()
                   for name in ("catalog", "submissions", "signatures", "notifications"))
    assert not [request_id for request_id in refused if request_id in logs]


def raw_request(port: int, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def test_an_oversize_head_on_a_write_is_431_and_writes_nothing(world):
    side = world.sides["A"]
    token = side.applicant.headers["authorization"]
    body = (b'{"service_code": "%s", "applicant": {"name": "Siti", "email": "siti@example.go.id"}, '
            b'"data": {"perihal": "Permohonan uji"}}' % side.service["code"].encode())
    before, listed = world.quiet_audit_heads(), ok(side.applicant.get("/v1/submissions", params={"limit": 200}))["items"]
    for padding in (b"X-Padding: " + b"p" * 20_000 + b"\r\n",
                    b"".join(b"X-Many-%d: %s\r\n" % (number, b"v" * 100) for number in range(400)),
                    b"Cookie: " + b"c=" + b"x" * 1_000_000 + b"\r\n"):
        head = (b"POST /v1/submissions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                b"Authorization: " + token.encode() + b"\r\nContent-Length: %d\r\n" % len(body) + padding + b"\r\n")
        answer = raw_request(world.system.ports["gateway"], head, body)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert world.audit_heads() == before
    assert ok(side.applicant.get("/v1/submissions", params={"limit": 200}))["items"] == listed
