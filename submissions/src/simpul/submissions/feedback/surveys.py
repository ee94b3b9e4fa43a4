"""Satisfaction surveys (SKM) and the IKM report built from them.

One survey per submission, by its applicant, once the submission is decided for good (issued or
rejected). Responses are never shown individually in public: the report gives per-element
means and the index, and nothing at all below a minimum number of respondents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared import idempotency
from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text
from simpul.shared.visibility import Visibility
from simpul.submissions.access import NOT_FOUND, SUBMISSION_NOT_FOUND, first_or_404, new_id
from simpul.submissions.feedback.ikm import ELEMENTS, IkmResult, compute, round_half_up
from simpul.submissions.feedback.models import SURVEY_ELEMENTS, surveys
from simpul.submissions.periods import ReportPeriod
from simpul.submissions.feedback.schemas import SurveyIn
from simpul.submissions.models import submissions
from simpul.submissions.statemachine import Status

SURVEY_OPEN = frozenset({Status.ISSUED, Status.REJECTED})

NOT_YET = Text(
    "Survei kepuasan dapat diisi setelah permohonan selesai (issued atau rejected); kini '{status}'.",
    "The satisfaction survey opens once the submission is finished (issued or rejected); it is '{status}'.",
)
ALREADY = Text("Survei untuk permohonan ini sudah diisi.", "The survey for this submission was already given.")
NO_SURVEY = Text("Survei untuk permohonan ini belum diisi.", "No survey was given for this submission yet.")


def ikm_view(respondents: int, sums: dict[str, int] | None, minimum: int, language: str) -> dict[str, Any]:
    """The published figures of one group of responses; only the count below `minimum`."""
    result: IkmResult | None = compute(respondents, sums) if sums and respondents >= minimum else None
    if result is None:
        return {"respondents": respondents, "ikm": None, "index": None, "grade": None, "quality": None, "elements": None}
    return {
        "respondents": respondents,
        "ikm": float(result.converted),
        "index": float(round_half_up(result.index, 4)),
        "grade": result.grade.letter,
        "quality": result.grade.quality.render(language),
        "elements": [
            {"code": code, "name": name.render(language), "mean": float(round_half_up(result.means[code]))}
            for code, name in ELEMENTS.items()
        ],
    }


class SurveyService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        min_respondents: int,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions
        self.clock = clock
        self.min_respondents = min_respondents

    @staticmethod
    async def _own_submission(session: AsyncSession, identity: Identity, submission_id: str) -> dict[str, Any]:
        query = select(
            submissions.c.id, submissions.c.status, submissions.c.tenant, submissions.c.unit, submissions.c.service_code
        ).where(submissions.c.id == submission_id, Visibility.of(identity).where(submissions))
        return await first_or_404(session, query, NOT_FOUND, SUBMISSION_NOT_FOUND)

    async def give(self, identity: Identity, submission_id: str, answers: SurveyIn) -> dict[str, Any]:
        now = self.clock()
        scores = {element: getattr(answers, element) for element in SURVEY_ELEMENTS}
        comment = answers.comment.strip() if answers.comment and answers.comment.strip() else None
        try:
            async with self.sessions() as session, session.begin():
                target = await self._own_submission(session, identity, submission_id)
                if Status(target["status"]) not in SURVEY_OPEN:
                    raise Problem(409, NOT_YET, slug="survey-not-open", params={"status": target["status"]},
                                  current_status=target["status"])
                row = {
                    "id": new_id(),
                    "submission_id": submission_id,
                    "tenant": target["tenant"],
                    "unit": target["unit"],
                    "service_code": target["service_code"],
                    "created_at": now,
                    "created_by": identity.subject,
                    **scores,
                    "comment": comment,
                }
                await session.execute(insert(surveys).values(**row))
                await idempotency.settle(session, idempotency.created(f"/v1/submissions/{submission_id}/survey"))
        except IntegrityError as exc:
            # The unique submission_id: a second survey, also when two arrive at the same moment.
            raise Problem(409, ALREADY, slug="survey-already-given") from exc
        return self._view(row)

    async def get(self, identity: Identity, submission_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            await self._own_submission(session, identity, submission_id)
            row = (await session.execute(select(surveys).where(surveys.c.submission_id == submission_id))).mappings().first()
        if row is None:
            raise Problem(404, NO_SURVEY, slug="survey-not-found")
        return self._view(dict(row))

    async def subject_export(self, session: Any, email: str, submission_ids: list[str]) -> list[dict[str, Any]]:
        """The surveys given for those submissions (the data subject's export)."""
        if not submission_ids:
            return []
        query = select(surveys).where(surveys.c.submission_id.in_(submission_ids)).order_by(surveys.c.id)
        return [self._view(dict(r)) for r in (await session.execute(query)).mappings()]

    @staticmethod
    def _view(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "submission_id": row["submission_id"],
            "service_code": row["service_code"],
            "scores": {element: row[element] for element in SURVEY_ELEMENTS},
            "comment": row["comment"],
            "created_at": row["created_at"],
        }

    async def sums_by_service(
        self, period: ReportPeriod, *, service_code: str | None = None, unit: str | None = None
    ) -> dict[str, tuple[int, dict[str, int]]]:
        """Per service: respondents in the period and their scores added up per element."""
        query = (
            select(surveys.c.service_code, func.count(), *(func.sum(surveys.c[e]) for e in SURVEY_ELEMENTS))
            .where(surveys.c.created_at >= period.start, surveys.c.created_at < period.end)
            .group_by(surveys.c.service_code)
        )
        if service_code:
            query = query.where(surveys.c.service_code == service_code)
        if unit:
            query = query.where(surveys.c.unit == unit)
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        return {
            code: (int(count), {e: int(total) for e, total in zip(SURVEY_ELEMENTS, totals, strict=True)})
            for code, count, *totals in rows
        }

    def figures(self, respondents: int, sums: dict[str, int] | None, language: str) -> dict[str, Any]:
        return ikm_view(respondents, sums, self.min_respondents, language)

    async def report(
        self, period: ReportPeriod, *, service_code: str | None, unit: str | None, language: str
    ) -> dict[str, Any]:
        groups = await self.sums_by_service(period, service_code=service_code, unit=unit)
        respondents, sums = combine(groups.values())
        body = {
            "period": period.view(),
            "service_code": service_code,
            "unit": unit,
            "minimum_respondents": self.min_respondents,
            **self.figures(respondents, sums, language),
            "services": None,
        }
        if not service_code:
            body["services"] = [
                {"service_code": code, **self.figures(count, totals, language)}
                for code, (count, totals) in sorted(groups.items())
            ]
        return body


def combine(groups) -> tuple[int, dict[str, int] | None]:
    """Several groups' respondents and sums as one group (None when there is nobody)."""
    respondents = 0
    sums = dict.fromkeys(SURVEY_ELEMENTS, 0)
    for count, totals in groups:
        respondents += count
        for element in SURVEY_ELEMENTS:
            sums[element] += totals[element]
    return respondents, (sums if respondents else None)
