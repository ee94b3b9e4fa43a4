"""The GeoReport v2 use cases: the catalogue's published standards as services, and service
requests made, listed and read through the submissions core (the same checks, history, audit,
events and Idempotency-Key as the /v1 routes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text
from simpul.submissions.access import normalise_tracking_code
from simpul.submissions.catalog import CatalogClient
from simpul.submissions.open311 import georeport
from simpul.submissions.schemas import SubmissionCreate
from simpul.submissions.service import SubmissionService
from simpul.submissions.store import TRACKED

NO_SUCH_SERVICE = Text("Layanan '{code}' tidak ada atau tidak dibuka.", "There is no open service '{code}'.")
NO_SUCH_REQUEST = Text("Permohonan '{code}' tidak ada.", "There is no service request '{code}'.")
NEEDS_DOCUMENTS = Text(
    "Layanan ini mensyaratkan dokumen ({documents}) yang tidak dapat dikirim lewat GeoReport v2; "
    "ajukan lewat POST /v1/submissions.",
    "This service requires documents ({documents}) that GeoReport v2 cannot carry; use POST /v1/submissions.",
)
NO_MEDIA = Text(
    "media_url tidak diterima: dokumen diunggah lewat /v1/submissions/{{id}}/documents.",
    "media_url is not accepted: documents are uploaded through /v1/submissions/{{id}}/documents.",
)
BAD_REQUEST = Text("Permohonan tidak valid.", "The service request is not valid.")
REQUIRED = Text("wajib diisi", "is required")
BAD_STATUS = Text("open atau closed", "open or closed")


def token_path(submission_id: str) -> str:
    """What a create answered, read again: the path an Idempotency-Key replay is rebuilt from."""
    return f"/open311/v2/tokens/{submission_id}.json"


def token_answer(submission: dict[str, Any]) -> list[dict[str, Any]]:
    """A create's answer and its token's, the same: a replay rebuilt from the token's GET is the
    answer the client first got."""
    return [{"token": submission["id"], "service_request_id": submission["tracking_code"]}]


class Open311Service:
    def __init__(self, submissions: SubmissionService, catalog: CatalogClient, read_sessions: Callable) -> None:
        self.submissions = submissions
        self.catalog = catalog
        self.read_sessions = read_sessions

    async def services(self) -> list[dict[str, Any]]:
        return [georeport.service_entry(summary) for summary in await self.catalog.published()]

    async def definition(self, code: str) -> dict[str, Any]:
        standard = await self._open_standard(code)
        return {"service_code": standard["code"], "attributes": georeport.attributes(standard["form_schema"])}

    async def create(self, identity: Identity, fields: list[tuple[str, str]], language: str) -> list[dict[str, Any]]:
        """Creates the submission and submits it, in one transaction (nothing written when either
        is refused); a retry with the same Idempotency-Key replays the answer."""
        given = dict(fields)
        code = given.get("service_code", "").strip()
        missing = [name for name in ("service_code", "email") if not given.get(name, "").strip()]
        if not (given.get("first_name", "").strip() or given.get("last_name", "").strip()):
            missing.append("first_name")
        if missing:
            raise Problem(400, BAD_REQUEST, slug="invalid-request",
                          errors=[{"field": name, "message": REQUIRED.render(language)} for name in missing])
        if given.get("media_url"):
            raise Problem(400, NO_MEDIA, slug="media-not-accepted")
        standard = await self._open_standard(code)
        documents = [r["code"] for r in standard["requirements"] if r["required"]]
        if documents:
            raise Problem(400, NEEDS_DOCUMENTS, slug="documents-required", params={"documents": ", ".join(documents)})
        data = georeport.form_data(standard["form_schema"], fields, language)
        name = " ".join(part for part in (given.get("first_name", "").strip(), given.get("last_name", "").strip())
                        if part)
        try:
            body = SubmissionCreate(
                service_code=code,
                applicant={"name": name, "email": given["email"].strip(),
                           **({"phone": given["phone"].strip()} if given.get("phone", "").strip() else {})},
                data=data,
            )
        except ValidationError as exc:
            raise Problem(400, BAD_REQUEST, slug="invalid-request", errors=[
                {"field": ".".join(str(part) for part in error["loc"][1:] or error["loc"]), "message": error["msg"]}
                for error in exc.errors()
            ]) from None
        submitted = await self.submissions.create_and_submit(identity, body, language, replay_from=token_path)
        return token_answer(submitted)

    async def requests(
        self, identity: Identity, *, tracking_codes: list[str], service_codes: list[str], statuses: list[str],
        limit: int, language: str,
    ) -> list[dict[str, Any]]:
        """The caller's own service requests, newest first (the /v1 list's visibility), up to
        `limit` of those matching the filters."""
        unknown = [status for status in statuses if status not in georeport.STATES_OF]
        if unknown:
            raise Problem(400, BAD_REQUEST, slug="invalid-request",
                          errors=[{"field": "status", "message": BAD_STATUS.render(language)}])
        states = sorted({state for status in statuses for state in georeport.STATES_OF[status]})
        page = await self.submissions.list(
            identity, statuses=states, service_code=service_codes[0] if len(service_codes) == 1 else None,
            overdue=None, limit=limit, cursor=None,
        )
        wanted = {normalise_tracking_code(code) for code in tracking_codes}
        return [
            georeport.service_request(item, item["unit"]) for item in page["items"]
            if (not tracking_codes or item["tracking_code"] in wanted)
            and (not service_codes or item["service_code"] in service_codes)
        ]

    async def request(self, raw_code: str) -> list[dict[str, Any]]:
        """Anyone with the tracking code, as on /v1/track: no personal data."""
        code = normalise_tracking_code(raw_code)
        row = None
        if code is not None:
            async with self.read_sessions() as session:
                row = (await session.execute(TRACKED, {"code": code})).mappings().first()
        if row is None:
            raise Problem(404, NO_SUCH_REQUEST, slug="request-not-found", params={"code": raw_code[:40]})
        return [georeport.service_request(dict(row), row["unit"])]

    async def token(self, identity: Identity, submission_id: str) -> list[dict[str, Any]]:
        """The request id of a token (a submission id) the caller may see; 404 otherwise."""
        return token_answer(await self.submissions.get(identity, submission_id))

    async def _open_standard(self, code: str) -> dict[str, Any]:
        try:
            standard = await self.catalog.current(code)
        except Problem as problem:
            if problem.status == 404:
                raise Problem(404, NO_SUCH_SERVICE, slug="unknown-service", params={"code": code[:100]}) from None
            raise
        if standard.get("status") != "published":
            raise Problem(404, NO_SUCH_SERVICE, slug="unknown-service", params={"code": code[:100]})
        return standard
