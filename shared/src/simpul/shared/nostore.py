"""`Cache-Control: no-store` on every answer to a request that carried credentials.

An answer to an authenticated request holds somebody's data (a submission, a receipt, an API
client); no shared or browser cache may keep it, whatever the route set. Errors included: a
403 or 404 tells what exists. Public answers (the catalogue, verification) keep their headers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.shared.identity import ASSERTION_HEADER_BYTES

NO_STORE = b"no-store"


def carries_credentials(scope: Scope) -> bool:
    """A bearer or basic credential from a client, or a service's assertion of anyone but the
    anonymous caller (the gateway asserts anonymous callers too). An assertion that was refused
    leaves no identity: its 401 is kept from caches as well."""
    identity = scope.get("state", {}).get("identity")
    if identity is not None:
        return not identity.is_anonymous
    return any(name in (b"authorization", ASSERTION_HEADER_BYTES) for name, _ in scope["headers"])


class NoStoreMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            # Decided when the answer starts: by then the identity middleware has said who asked.
            if message["type"] == "http.response.start" and carries_credentials(scope):
                # ETags stay: admins send them back in If-Match, which no-store does not concern.
                headers = [(name, value) for name, value in message.get("headers", [])
                           if name.lower() not in (b"cache-control", b"expires")]
                headers.append((b"cache-control", NO_STORE))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)
