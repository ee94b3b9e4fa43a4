"""The gateway's public API as an admin client sees it: a token by client credentials, then
plain JSON calls. An answer outside 2xx becomes an `ApiError` whose message is the problem's
title and detail (and each field error), never a traceback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class ApiError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def problem_message(response: httpx.Response) -> str:
    """One readable line of an error answer (RFC 9457 problem, OAuth error, or plain text)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200].strip() or response.reason_phrase}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    parts = [str(body.get("title") or body.get("error") or f"HTTP {response.status_code}")]
    detail = body.get("detail") or body.get("error_description")
    if detail and detail != parts[0]:
        parts.append(str(detail))
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            parts.append(f"{error.get('field')}: {error.get('message')}")
    message = f"{response.status_code} " + "; ".join(parts)
    if body.get("request_id"):
        message += f" (request id {body['request_id']})"
    return message


class AdminApi:
    """One admin session against a gateway; `transport` lets tests serve it in process."""

    def __init__(self, url: str, client_id: str, client_secret: str,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT, transport=transport)
        self._credentials = (client_id, client_secret)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _authorization(self) -> dict[str, str]:
        if self._token is None:
            client_id, client_secret = self._credentials
            response = self._send("POST", "/v1/oauth/token", data={
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret})
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the gateway at {self._http.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError(problem_message(response), response.status_code)
        return response

    def call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        headers = self._authorization()
        if method == "POST":
            # A fresh key per call: a retry by hand must not replay an earlier, different change.
            headers["Idempotency-Key"] = str(uuid.uuid4())
        response = self._send(method, path, json=json, params=params, headers=headers)
        return response.json() if response.content else None

    def every(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, following `next_cursor`."""
        query = {**(params or {}), "limit": 200}
        while True:
            page = self.call("GET", path, params=query)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]
