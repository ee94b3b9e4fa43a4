"""Identity assertions for API tests, made the way the gateway makes them."""

from __future__ import annotations

import json
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from simpul.shared.identity import ASSERTION_HEADER, ASSERTION_ISSUER, Official, audience_for

TEST_INTERNAL_SECRET = "test-internal-secret-0123456789abcdef"
_KID = "test-key"
_PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())


def jwks_json() -> str:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(_PRIVATE_KEY.public_key()))
    jwk.update({"kid": _KID, "use": "sig", "alg": "ES256"})
    return json.dumps({"keys": [jwk]})


def assertion(service: str, role: str, tenant: str | None = None, subject: str | None = None,
              official: Official | None = None) -> str:
    now = int(time.time())
    claims = {
        "iss": ASSERTION_ISSUER,
        "aud": audience_for(service),
        "sub": subject or f"{role}-{tenant or 'x'}",
        "role": role,
        "iat": now,
        "exp": now + 60,
    }
    if tenant is not None:
        claims["tenant"] = tenant
    if official is not None:
        claims["official"] = official.claims()
    return jwt.encode(claims, _PRIVATE_KEY, algorithm="ES256", headers={"kid": _KID})


def as_role(service: str, role: str, tenant: str | None = None, subject: str | None = None,
            official: Official | None = None) -> dict[str, str]:
    """Headers of a call the gateway forwards for a client with this role and tenant (and official)."""
    return {ASSERTION_HEADER: assertion(service, role, tenant, subject, official)}


def anonymous(service: str) -> dict[str, str]:
    return as_role(service, "anonymous", subject="anonymous")
