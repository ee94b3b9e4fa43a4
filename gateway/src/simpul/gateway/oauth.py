"""The OAuth 2.0 client credentials grant (RFC 6749 §4.4) at `POST /v1/oauth/token`."""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_plus

from starlette.responses import Response

from simpul.gateway.clients import ClientService
from simpul.gateway.officials import OfficialService
from simpul.gateway.loginguard import FailureLimiter
from simpul.gateway.registry import ClientRegistry
from simpul.gateway.tokens import AccessTokens
from simpul.shared.logs import security_event
from simpul.shared.problems import Text, problem_response

FORM_TYPE = "application/x-www-form-urlencoded"
# RFC 6749 §5.1: token answers must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_CHALLENGE = 'Basic realm="simpul", charset="UTF-8"'

NOT_FORM = Text(
    "Kirim parameter sebagai application/x-www-form-urlencoded.",
    "Send the parameters as application/x-www-form-urlencoded.",
)
REPEATED = Text("Parameter {name} dikirim lebih dari sekali.", "The parameter {name} was sent more than once.")
GRANT_MISSING = Text("Parameter grant_type wajib diisi.", "The grant_type parameter is required.")
GRANT_UNSUPPORTED = Text(
    "Hanya grant_type=client_credentials yang didukung.",
    "Only grant_type=client_credentials is supported.",
)
TWO_METHODS = Text(
    "Gunakan satu cara autentikasi klien saja: HTTP Basic atau parameter formulir.",
    "Use one client authentication method only: HTTP Basic or form parameters.",
)
BAD_BASIC = Text("Header Authorization Basic tidak valid.", "The Basic Authorization header is not valid.")
BAD_CLIENT = Text("Autentikasi klien gagal.", "Client authentication failed.")
OFFICIAL_NOT_OFFICER = Text(
    "Parameter official hanya untuk klien petugas (officer).",
    "The official parameter is for officer clients only.",
)
OFFICIAL_UNKNOWN = Text(
    "Parameter official: tidak ada pejabat aktif dengan NIP ini di unit klien.",
    "The official parameter: no active official with this NIP in the client's unit.",
)
TOO_MANY_FAILURES = Text(
    "Terlalu banyak autentikasi gagal. Coba lagi dalam {seconds} detik.",
    "Too many failed authentications. Try again in {seconds} seconds.",
)


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: Text, *, slug: str | None = None,
                 retry_after: int | None = None, **params: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description
        self.slug = slug or error.replace("_", "-")
        self.retry_after = retry_after
        self.params = params

    def response(self, language: str) -> Response:
        """problem+json that also carries RFC 6749's `error` and `error_description`."""
        detail = self.description.render(language, **self.params)
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = BASIC_CHALLENGE
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return problem_response(
            self.status, detail, language, headers=headers,
            slug=self.slug, error=self.error, error_description=detail,
        )


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: int

    def body(self) -> dict:
        return {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in}


@dataclass(frozen=True)
class TokenRequest:
    client_id: str
    client_secret: str
    # The NIP of the official an officer's token is to act as.
    official: str | None = None


def client_credentials(content_type: str | None, body: bytes, authorization: str | None) -> TokenRequest:
    """What a token request asks for, or OAuthError as RFC 6749 §5.2 names it."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise OAuthError(400, "invalid_request", NOT_FORM)
    try:
        params = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise OAuthError(400, "invalid_request", NOT_FORM) from exc
    for name, values in params.items():
        if len(values) > 1:
            raise OAuthError(400, "invalid_request", REPEATED, name=name)
    form = {name: values[0] for name, values in params.items()}
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError(400, "invalid_request", GRANT_MISSING)
    if grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", GRANT_UNSUPPORTED)

    official = form.get("official")
    basic = _basic_credentials(authorization)
    if basic is not None:
        if "client_secret" in form or form.get("client_id", basic[0]) != basic[0]:
            raise OAuthError(400, "invalid_request", TWO_METHODS)
        return TokenRequest(*basic, official=official)
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if not client_id or not secret:
        raise OAuthError(401, "invalid_client", BAD_CLIENT)
    return TokenRequest(client_id, secret, official=official)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: both parts form-urlencoded, then `id:secret` in Basic."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError(400, "invalid_request", BAD_BASIC) from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise OAuthError(400, "invalid_request", BAD_BASIC)
    return unquote_plus(client_id), unquote_plus(secret)


async def grant(
    clients: ClientService,
    officials: OfficialService,
    registry: ClientRegistry,
    tokens: AccessTokens,
    failures: FailureLimiter,
    *,
    address: str,
    content_type: str | None,
    body: bytes,
    authorization: str | None,
) -> TokenGrant:
    """A token for valid client credentials. Malformed requests guess nothing and are not counted;
    wrong credentials are, and a locked client or address is refused (429) before its secret is
    checked (loginguard.py)."""
    try:
        request = client_credentials(content_type, body, authorization)
    except OAuthError as exc:
        security_event("token_refused", f"{exc.error}: {exc.description.render('en', **exc.params)}")
        raise
    client_id = request.client_id
    lock = await failures.check(client_id, address, time.monotonic())
    if lock is not None:
        security_event("token_refused", f"locked: {lock.scope}", client_id=client_id, retry_after=lock.retry_after)
        raise OAuthError(429, "temporarily_unavailable", TOO_MANY_FAILURES, slug="too-many-failures",
                         retry_after=lock.retry_after, seconds=str(lock.retry_after))
    # authenticate logs why it refused (unknown client, bad secret, revoked).
    record = await clients.authenticate(request.client_id, request.client_secret)
    if record is None:
        for started in await failures.failed(client_id, address, time.monotonic()):
            security_event("token_locked", f"{failures.policy.threshold(started.scope)} failures: {started.scope}",
                           client_id=client_id, lock_seconds=started.retry_after, level=started.level)
        raise OAuthError(401, "invalid_client", BAD_CLIENT)
    await failures.succeeded(client_id, address, time.monotonic())
    registry.remember(record)
    official_id = None
    if request.official is not None:
        # Only after the client authenticated: the answer must not tell strangers which NIPs exist.
        if record.role != "officer" or record.tenant is None:
            security_event("token_refused", "official asked by a non-officer", client_id=record.client_id)
            raise OAuthError(400, "invalid_request", OFFICIAL_NOT_OFFICER)
        official = await officials.active_by_nip(record.tenant, request.official)
        if official is None:
            security_event("token_refused", "official inactive or of another unit", client_id=record.client_id)
            raise OAuthError(400, "invalid_request", OFFICIAL_UNKNOWN)
        registry.official_changed(official)
        official_id = official.id
    return TokenGrant(tokens.issue(record.client_id, record.role, record.tenant, official_id),
                      tokens.lifetime_seconds)
