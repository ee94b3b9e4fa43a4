"""Calls from one service to another's internal API, with a service token and firm timeouts."""

from __future__ import annotations

import httpx

from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from simpul.shared.requestid import REQUEST_ID_HEADER, current_request_id

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A kept-alive connection the other side closed while idle fails on its next use; a request
# that is safe to repeat is sent once more on a fresh connection.
STALE_CONNECTION_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class InternalClient:
    """One per (caller, target) pair; keep it for the life of the app and close it at shutdown."""

    def __init__(self, *, caller: str, target: str, base_url: str, secret: str,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.caller = caller
        self.target = target
        self._secret = secret
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    def headers(self) -> dict[str, str]:
        headers = {ASSERTION_HEADER: mint_service_token(self._secret, self.caller, self.target)}
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER.decode()] = request_id
        return headers

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        try:
            return await self.http.request(method, path, headers=headers, **kwargs)
        except STALE_CONNECTION_ERRORS:
            if method.upper() not in SAFE_METHODS:
                raise
            return await self.http.request(method, path, headers=headers, **kwargs)

    async def aclose(self) -> None:
        await self.http.aclose()
