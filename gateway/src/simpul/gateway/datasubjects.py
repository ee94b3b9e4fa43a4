"""`GET /v1/admin/data-subjects/{email}`: everything the system holds about one applicant email
(UU 27/2022), gathered from the services that hold personal data over their internal routes.

Each service is called with the asking admin's own assertion, so each records the export as that
admin's read of the person's data. Submissions answer the submissions (form data, history,
documents' metadata), complaints, surveys and their reads log; notifications the mails, inbox
entries, webhook deliveries and theirs; signatures the issued documents of those submissions (the
applicant's name is printed on them). The catalogue and the gateway hold no applicant's data.
An export that could not ask every service is refused (503) rather than answered incomplete.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from simpul.gateway.registry import ClientView
from simpul.gateway.runtime import Gateway
from simpul.shared.balance import Failure, Replica
from simpul.shared.identity import ASSERTION_HEADER
from simpul.shared.problems import Problem, Text

log = logging.getLogger(__name__)

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=30)
UNAVAILABLE = Text(
    "Data tidak dapat dihimpun saat ini: layanan {service} tidak tersedia. Coba lagi nanti.",
    "The data cannot be gathered now: the {service} service is unavailable. Try again later.",
)


class _Refused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


def _classify(exc: BaseException) -> Failure | None:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure.UNREACHABLE
    return Failure.MAYBE_SENT if isinstance(exc, aiohttp.ClientError) else None


class DataSubjects:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def export(self, view: ClientView, email: str) -> dict[str, Any]:
        path = f"/internal/data-subjects/{quote(email, safe='@')}"
        submissions, notifications = await asyncio.gather(
            self._get(view, "submissions", path), self._get(view, "notifications", path)
        )
        issued = [document["document_id"] for submission in submissions["submissions"]
                  for document in submission["issued_documents"] if document.get("document_id")]
        documents = await asyncio.gather(*(
            self._get(view, "signatures", f"/v1/documents/{quote(document_id, safe='')}") for document_id in issued
        ))
        return {
            "email": email,
            "submissions": submissions["submissions"],
            "complaints": submissions["complaints"],
            "surveys": submissions["surveys"],
            "issued_documents": list(documents),
            "notifications": notifications["notifications"],
            "deliveries": notifications["deliveries"],
            "reads": sorted([*submissions["reads"], *notifications["reads"]], key=lambda read: read["at"]),
        }

    async def _get(self, view: ClientView, service: str, path: str) -> dict[str, Any]:
        gateway = self.gateway
        session = gateway.proxy.session
        upstream = gateway.upstreams[service]
        if session is None:
            raise Problem(503, UNAVAILABLE, slug="service-unavailable", params={"service": service})
        headers = {ASSERTION_HEADER: gateway.minter.assertion(view, service)}

        async def fetch(replica: Replica) -> dict[str, Any]:
            async with session.get(f"{replica.url}{path}", headers=replica.with_host(headers),
                                   timeout=FETCH_TIMEOUT) as response:
                body = await response.read()
                if response.status != 200:
                    raise _Refused(response.status, body)
                return orjson.loads(body)

        try:
            return await upstream.balancer.call(fetch, classify=_classify, repeatable=True)
        except _Refused as exc:
            log.warning("data subject export: %s answered %s", service, exc.status)
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            log.warning("data subject export: %s unavailable: %r", service, exc)
        raise Problem(503, UNAVAILABLE, slug="service-unavailable", params={"service": service})
