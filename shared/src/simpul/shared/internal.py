"""Calls from one service to another's internal API, with a service token and firm timeouts,
balanced across the target's replicas (`simpul.shared.balance`)."""

from __future__ import annotations

import httpx

from simpul.shared.balance import Balancer, Failure, Replica, parse_replica_urls, repeatable
from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from simpul.shared.requestid import REQUEST_ID_HEADER, current_request_id

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
PROBE_TIMEOUT = httpx.Timeout(1.0)
# 4xx answers another try may change: a timeout, a conflict, too early, a rate limit; and the
# caller's own credentials (401/403), which an operator fixes without touching the request.
RETRYABLE_CLIENT_ERRORS = frozenset({401, 403, 408, 409, 425, 429})


def refused_for_good(status: int) -> bool:
    """Whether an internal call's answer refuses the request as it is: retrying it for ever would
    only get the same answer, so callers record the refusal and stop (5xx keep their backoff)."""
    return 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS


def classify(exc: BaseException) -> Failure | None:
    """Which transport failures another replica (or a fresh connection) may fix."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return Failure.UNREACHABLE
    # The connection broke before an answer came: a kept-alive connection the other side closed
    # while idle looks like this, and so does a replica that died with the request in hand.
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return Failure.MAYBE_SENT
    return None


class InternalClient:
    """One per (caller, target) pair; keep it for the life of the app and close it at shutdown.
    `base_url` is one base URL or several, comma-separated (replicas of the target)."""

    def __init__(self, *, caller: str, target: str, base_url: str, secret: str,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.caller = caller
        self.target = target
        self._secret = secret
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self.balancer = Balancer(target, parse_replica_urls(f"SIMPUL_{target.upper()}_URL", base_url),
                                 probe=self._probe)

    def headers(self) -> dict[str, str]:
        headers = {ASSERTION_HEADER: mint_service_token(self._secret, self.caller, self.target)}
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER.decode()] = request_id
        return headers

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}

        async def send(replica: Replica) -> httpx.Response:
            return await self.http.request(method, replica.url + path, headers=replica.with_host(headers),
                                           extensions=self._extensions(replica), **kwargs)

        return await self.balancer.call(send, classify=classify, repeatable=repeatable(method, headers.items()))

    async def _probe(self, replica: Replica) -> bool:
        try:
            response = await self.http.get(replica.url + "/readyz", headers=replica.with_host({}),
                                           extensions=self._extensions(replica), timeout=PROBE_TIMEOUT)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    @staticmethod
    def _extensions(replica: Replica) -> dict[str, str]:
        return {"sni_hostname": replica.server_name} if replica.by_address else {}

    async def aclose(self) -> None:
        await self.balancer.close()
        await self.http.aclose()
