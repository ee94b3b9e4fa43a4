"""Access tokens and identity assertions: issued, verified, refused, cached."""

from __future__ import annotations

import time

import jwt
import orjson
import pytest

from simpul.gateway.keys import KeyRing, SigningKey, thumbprint
from simpul.gateway.registry import ClientView
from simpul.gateway.tokens import ACCESS_TOKEN_AUDIENCE, AccessTokens, AssertionMinter, InvalidToken
from simpul.shared.identity import AssertionRefused, AssertionVerifier, Identity

ISSUER = "https://simpul.example"


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    keys = [SigningKey.generate(), SigningKey.generate()]
    return KeyRing(keys, keys[0])


@pytest.fixture
def tokens(keyring) -> AccessTokens:
    issuer = AccessTokens(ISSUER, lifetime_seconds=900)
    issuer.keyring = keyring
    return issuer


def public_key_for(keyring: KeyRing, token: str):
    kid = jwt.get_unverified_header(token)["kid"]
    entry = next(entry for entry in orjson.loads(keyring.jwks)["keys"] if entry["kid"] == kid)
    return jwt.PyJWK(entry).key


def test_an_access_token_carries_the_client_and_verifies_with_the_published_keys(tokens, keyring):
    token = tokens.issue("cli_1", "applicant", "31")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": keyring.current.kid, "typ": "at+jwt"}
    claims = jwt.decode(token, public_key_for(keyring, token), algorithms=["ES256"], audience=ACCESS_TOKEN_AUDIENCE)
    assert claims["sub"] == "cli_1" and claims["role"] == "applicant" and claims["tenant"] == "31"
    assert claims["iss"] == ISSUER and claims["exp"] - claims["iat"] == 900 and claims["jti"]
    assert tokens.verify(token) == ("cli_1", None)
    assert tokens.verify(token) == ("cli_1", None)  # the cached path


def test_jwks_lists_every_key_with_its_thumbprint(keyring):
    document = orjson.loads(keyring.jwks)
    assert len(document["keys"]) == 2
    for entry in document["keys"]:
        assert set(entry) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
        assert entry["kid"] == thumbprint(jwt.PyJWK(entry).key)
        assert "d" not in entry


def test_a_key_survives_its_der_round_trip():
    key = SigningKey.generate()
    again = SigningKey.from_der(key.kid, key.private_der())
    assert again.public_jwk() == key.public_jwk()


def claims(**changes):
    now = int(time.time())
    base = {"iss": ISSUER, "aud": ACCESS_TOKEN_AUDIENCE, "sub": "cli_1", "role": "admin", "jti": "j",
            "iat": now, "exp": now + 60}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def sign(keyring: KeyRing, payload: dict, **header) -> str:
    headers = {"kid": keyring.current.kid, "typ": "at+jwt", **header}
    return jwt.encode(payload, keyring.current.private_key, algorithm="ES256", headers=headers)


@pytest.mark.parametrize(
    "make",
    [
        lambda ring: sign(ring, claims(exp=int(time.time()) - 1)),
        lambda ring: sign(ring, claims(aud="simpul:catalog")),
        lambda ring: sign(ring, claims(iss="someone-else")),
        lambda ring: sign(ring, claims(jti=None)),
        lambda ring: sign(ring, claims(), typ="JWT"),
        lambda ring: sign(ring, claims(), kid="unknown"),
        lambda ring: jwt.encode(claims(), SigningKey.generate().private_key, algorithm="ES256",
                                headers={"kid": ring.current.kid, "typ": "at+jwt"}),
        lambda ring: jwt.encode(claims(), "a-shared-secret-that-is-long-enough", algorithm="HS256",
                                headers={"kid": ring.current.kid, "typ": "at+jwt"}),
        lambda ring: sign(ring, claims())[:-4] + "AAAA",
        lambda ring: "not.a.jwt",
        lambda ring: "",
        lambda ring: "x" * 5000,
        lambda ring: sign(ring, claims(exp=int(time.time()) + 901)),
        lambda ring: sign(ring, claims(iat=int(time.time()) + 3600, exp=int(time.time()) + 3660)),
        lambda ring: sign(ring, claims(iat="yesterday")),
    ],
    ids=["expired", "audience", "issuer", "no-jti", "typ", "kid", "foreign-key", "hs256", "tampered", "garbage",
         "empty", "huge", "lifetime-beyond-configured", "issued-in-the-future", "iat-not-a-number"],
)
def test_refused_tokens(tokens, keyring, make):
    with pytest.raises(InvalidToken):
        tokens.verify(make(keyring))


def test_a_cached_token_still_expires(tokens, keyring):
    expires = int(time.time()) + 2
    token = sign(keyring, claims(exp=expires))
    assert tokens.verify(token) == ("cli_1", None)
    time.sleep(expires - time.time() + 0.1)
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_an_assertion_is_not_an_access_token(tokens, keyring):
    minter = AssertionMinter()
    minter.keyring = keyring
    view = ClientView(Identity(subject="cli_1", role="admin"))
    with pytest.raises(InvalidToken):
        tokens.verify(minter.assertion(view, "catalog"))


async def test_assertions_verify_at_the_service_and_are_reused_until_half_life(keyring, monkeypatch):
    minter = AssertionMinter()
    minter.keyring = keyring
    view = ClientView(Identity(subject="cli_9", role="officer", tenant="KDN-BH", name="Biro Hukum"))
    first = minter.assertion(view, "catalog")
    assert minter.assertion(view, "catalog") is first
    other_service = minter.assertion(view, "submissions")
    assert other_service != first

    verifier = AssertionVerifier("catalog", internal_secret="x" * 32, jwks_json=keyring.jwks.decode())
    identity = await verifier.verify(first)
    assert identity == Identity(subject="cli_9", role="officer", tenant="KDN-BH", name="Biro Hukum")
    with pytest.raises(AssertionRefused):
        await verifier.verify(other_service)

    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    renewed = minter.assertion(view, "catalog")
    assert renewed != first
    assert jwt.decode(renewed, options={"verify_signature": False})["iat"] == int(later)
