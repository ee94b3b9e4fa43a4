"""The gateway's small parts: secret hashing, tenant rules, rate limiter, route table, traceparent,
the token request parser."""

from __future__ import annotations

import base64

import pytest

from simpul.gateway.clients import tenant_is_valid
from simpul.gateway.hashing import hash_secret, verify_secret
from simpul.gateway.oauth import OAuthError, TokenRequest, client_credentials
from simpul.gateway.ratelimit import RateLimiter
from simpul.gateway.routing import ROUTES, has_dot_segment, service_for
from simpul.gateway.tracing import new_traceparent, valid_traceparent

FORM = "application/x-www-form-urlencoded"


# --- secrets ---------------------------------------------------------------------------


def test_scrypt_hash_verifies_only_the_right_secret():
    encoded = hash_secret("correct horse battery staple")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert "correct horse" not in encoded
    assert verify_secret("correct horse battery staple", encoded)
    assert not verify_secret("correct horse battery stapl", encoded)
    assert not verify_secret("", encoded)


def test_every_hash_has_its_own_salt():
    assert hash_secret("same") != hash_secret("same")


@pytest.mark.parametrize("encoded", ["", "plain", "bcrypt$1$2$3$abc$def", "scrypt$x$8$1$abc$def", "scrypt$16384$8$1$!!$??"])
def test_malformed_hashes_never_verify(encoded):
    assert not verify_secret("anything", encoded)


# --- tenants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "tenant", "valid"),
    [
        ("applicant", "31", True),
        ("applicant", "16.71", True),
        ("applicant", "32.73.01", True),
        ("applicant", "32.73.01.1001", True),
        ("applicant", "3", False),
        ("applicant", "31.7", False),
        ("applicant", "31.", False),
        ("applicant", "KDN-BH", False),
        ("applicant", None, False),
        ("applicant", "31\n", False),
        ("officer", "KDN-BH", True),
        ("officer", "DITJEN.OTDA", True),
        ("officer", "K", False),
        ("officer", "kdn-bh", False),
        ("officer", "-KDN", False),
        ("officer", "A" * 33, False),
        ("officer", None, False),
        ("admin", None, True),
        ("admin", "31", False),
        ("superuser", None, False),
    ],
)
def test_tenant_rules(role, tenant, valid):
    assert tenant_is_valid(role, tenant) is valid


# --- rate limits -----------------------------------------------------------------------


def test_bucket_allows_the_burst_then_refuses_until_it_refills():
    limiter = RateLimiter(per_minute=60, capacity=3)
    assert limiter.take("a", 100.0) == (True, 2, 1)
    assert limiter.take("a", 100.0) == (True, 1, 2)
    assert limiter.take("a", 100.0) == (True, 0, 3)
    allowed, remaining, retry_after = limiter.take("a", 100.0)
    assert (allowed, remaining, retry_after) == (False, 0, 1)
    # Another key has its own bucket.
    assert limiter.take("b", 100.0)[0]
    # One token a second comes back.
    assert limiter.take("a", 101.0)[0]
    assert not limiter.take("a", 101.0)[0]
    # Never more than the capacity, however long the pause.
    assert limiter.take("a", 10_000.0) == (True, 2, 1)


def test_a_costly_request_takes_its_cost_and_waits_for_enough_tokens():
    limiter = RateLimiter(per_minute=60, capacity=10)
    assert limiter.take("a", 0.0, cost=4) == (True, 6, 4)
    assert limiter.take("a", 0.0, cost=4) == (True, 2, 8)
    # Two tokens left: a cost of 4 waits two seconds for the other two, a lookup still passes.
    assert limiter.take("a", 0.0, cost=4) == (False, 2, 2)
    assert limiter.take("a", 0.0) == (True, 1, 9)
    assert limiter.take("a", 3.0, cost=4) == (True, 0, 10)


def test_headers_and_pruning():
    limiter = RateLimiter(per_minute=600, capacity=100)
    limiter.take("a", 0.0)
    assert limiter.headers(99, 1) == [
        (b"ratelimit-limit", b"100"),
        (b"ratelimit-remaining", b"99"),
        (b"ratelimit-reset", b"1"),
    ]
    limiter.take("b", 0.0)
    limiter.prune(0.05)
    assert len(limiter) == 2
    limiter.prune(1.0)
    assert len(limiter) == 0


# --- routing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/services", "catalog"),
        ("/v1/services/IZIN-LN/versions/1", "catalog"),
        ("/v1/submissions/abc/documents", "submissions"),
        ("/v1/track/SPL-123", "submissions"),
        ("/v1/complaints", "submissions"),
        ("/v1/reports/ikm", "submissions"),
        ("/v1/documents/d1/content", "signatures"),
        ("/v1/verify", "signatures"),
        ("/v1/pki/ca", "signatures"),
        ("/v1/signers", "signatures"),
        ("/v1/webhooks/w1/deliveries", "notifications"),
        ("/v1/notifications", "notifications"),
        ("/v1/templates", "notifications"),
        ("/v1/servicesx", None),
        ("/v1/oauth/token", None),
        ("/v1/admin/clients", None),
        ("/v1/admin/audit/catalog", "catalog"),
        ("/v1/admin/audit/notifications/verify", "notifications"),
        ("/v1/admin/audit/gateway", None),
        ("/v1/admin/audit/unknown", None),
        ("/internal/services/X", None),
        ("/v2/services", None),
        ("/services", None),
    ],
)
def test_route_table(path, service):
    assert service_for(path) == service


def test_every_route_names_a_known_service():
    assert set(ROUTES.values()) == {"catalog", "submissions", "signatures", "notifications"}


@pytest.mark.parametrize(
    ("path", "dotted"),
    [
        ("/v1/services/../internal/x", True),
        ("/v1/services/./x", True),
        ("/v1/services/..", True),
        ("/v1/services/a..b", False),
        ("/v1/services/.well-known", False),
        ("/v1/services/x.pdf", False),
    ],
)
def test_dot_segments(path, dotted):
    assert has_dot_segment(path) is dotted


# --- traceparent -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", True),
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", True),
        (b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future", True),
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", False),
        (b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", False),
        (b"00-00000000000000000000000000000000-b7ad6b7169203331-01", False),
        (b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", False),
        (b"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", False),
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01", False),
        (b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n", False),
        (b"garbage", False),
        (b"", False),
    ],
)
def test_traceparent_validation(value, valid):
    assert valid_traceparent(value) is valid


def test_new_traceparents_are_valid_and_distinct():
    first, second = new_traceparent(), new_traceparent()
    assert valid_traceparent(first) and valid_traceparent(second)
    assert first[3:35] != second[3:35]


# --- the token request -----------------------------------------------------------------


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_credentials_from_the_form():
    body = b"grant_type=client_credentials&client_id=abc&client_secret=s%2Bcret"
    assert client_credentials(FORM, body, None) == TokenRequest("abc", "s+cret")


def test_credentials_from_basic_are_form_decoded():
    body = b"grant_type=client_credentials"
    assert client_credentials(f"{FORM}; charset=utf-8", body, basic("abc", "s%2Bcret")) == TokenRequest("abc", "s+cret")


@pytest.mark.parametrize(
    ("content_type", "body", "authorization", "status", "error"),
    [
        ("application/json", b'{"grant_type": "client_credentials"}', None, 400, "invalid_request"),
        (FORM, b"client_id=a&client_secret=b", None, 400, "invalid_request"),
        (FORM, b"grant_type=password&client_id=a&client_secret=b", None, 400, "unsupported_grant_type"),
        (FORM, b"grant_type=client_credentials&grant_type=client_credentials&client_id=a&client_secret=b", None,
         400, "invalid_request"),
        (FORM, b"grant_type=client_credentials&client_id=a", None, 401, "invalid_client"),
        (FORM, b"grant_type=client_credentials", None, 401, "invalid_client"),
        (FORM, b"grant_type=client_credentials&client_secret=x", basic("a", "b"), 400, "invalid_request"),
        (FORM, b"grant_type=client_credentials&client_id=other", basic("a", "b"), 400, "invalid_request"),
        (FORM, b"grant_type=client_credentials", "Basic !!!not-base64", 400, "invalid_request"),
        (FORM, b"grant_type=client_credentials", "Basic " + base64.b64encode(b"no-colon").decode(), 400,
         "invalid_request"),
        (FORM, b"\xff\xfe", None, 400, "invalid_request"),
    ],
)
def test_bad_token_requests(content_type, body, authorization, status, error):
    with pytest.raises(OAuthError) as raised:
        client_credentials(content_type, body, authorization)
    assert (raised.value.status, raised.value.error) == (status, error)


def test_token_request_carries_the_official_nip():
    body = b"grant_type=client_credentials&client_id=abc&client_secret=s&official=198503142010011002"
    assert client_credentials(FORM, body, None).official == "198503142010011002"
    assert client_credentials(FORM, b"grant_type=client_credentials&official=1", basic("abc", "s")).official == "1"
