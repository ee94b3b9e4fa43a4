"""The public reports as the submissions table grows: IKM and performance, 10 thousand against
1 million submissions.

    .venv/bin/python bench/reports.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--sizes 10000,1000000] [--rounds 5]

For each size a submissions service is built in-process (its own SQLite file, or a fresh
PostgreSQL database with --postgres / SIMPUL_TEST_POSTGRES) and seeded directly: submissions
spread over two years, 20 units, 34 regions and every state (bench/submissions.py's seed), a
survey for one in five decided submissions, then vacuumed / analysed. Then `GET /v1/reports/performance` and
`GET /v1/reports/ikm` are asked for the current year and the current month through the app
(httpx ASGI transport, no network), R rounds each, interleaved; the table gives the median
milliseconds and the ratio of the largest size to the smallest. A year holds about half of
the rows, so its report grows with the table; a month's should not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from submissions import seeded_rows, settle  # noqa: E402  (bench/submissions.py)

from simpul.submissions.app import create_app  # noqa: E402
from simpul.submissions.calendar import WorkingCalendar, local_date  # noqa: E402
from simpul.submissions.feedback.models import SURVEY_ELEMENTS, surveys  # noqa: E402
from simpul.submissions.models import submissions  # noqa: E402
from simpul.submissions.settings import SubmissionsSettings  # noqa: E402
from tests.support.asgi import running  # noqa: E402
from tests.support.databases import TestDatabases  # noqa: E402
from tests.support.identity import TEST_INTERNAL_SECRET, anonymous, jwks_json  # noqa: E402

BATCH = 5000


def survey_rows(rows: list[dict], rng: random.Random) -> list[dict]:
    picked = [r for r in rows if r["status"] in ("issued", "rejected") and rng.random() < 0.2]
    return [
        {
            "id": r["id"], "submission_id": r["id"], "tenant": r["tenant"], "unit": r["unit"],
            "service_code": r["service_code"], "created_at": r["stopped_at"], "created_by": "seed",
            **{element: rng.choice((2, 3, 3, 4, 4)) for element in SURVEY_ELEMENTS}, "comment": None,
        }
        for r in picked
    ]


def decided(rows: list[dict], calendar: WorkingCalendar) -> list[dict]:
    """What a decision stores: its working days, as the SLA clock counts them."""
    for row in rows:
        row["decided_working_days"] = calendar.working_days_between(
            local_date(row["submitted_at"]), local_date(row["stopped_at"])
        ) if row["status"] in ("approved", "issued", "rejected") else None
    return rows


async def seed(app, total: int, rng: random.Random) -> None:
    calendar = WorkingCalendar()
    left = total
    while left:
        rows = decided(seeded_rows(min(BATCH, left), rng), calendar)
        async with app.state.sessions() as session, session.begin():
            await session.execute(insert(submissions), rows)
            answered = survey_rows(rows, rng)
            if answered:
                await session.execute(insert(surveys), answered)
        left -= len(rows)


def paths(now: datetime) -> dict[str, str]:
    year = f"from={now.year}-01-01&to={now.date().isoformat()}"
    month = f"from={now.year}-{now.month:02d}-01&to={now.date().isoformat()}"
    return {
        "performance, year": f"/v1/reports/performance?{year}",
        "performance, month": f"/v1/reports/performance?{month}",
        "ikm, year": f"/v1/reports/ikm?{year}",
        "ikm, month": f"/v1/reports/ikm?{month}",
    }


async def measure(sizes: list[int], rounds: int, directory: Path) -> dict[int, dict[str, list[float]]]:
    databases = TestDatabases(directory)
    timings: dict[int, dict[str, list[float]]] = {}
    try:
        apps = {}
        for size in sizes:
            settings = SubmissionsSettings(
                data_dir=directory / f"data-{size}", identity_jwks=jwks_json(), internal_secret=TEST_INTERNAL_SECRET,
                database_url=await databases.url("submissions"),
                report_cache_seconds=0,  # measure the computation, not the cache in front of it
            )
            apps[size] = create_app(settings)
        contexts = {size: running(app) for size, app in apps.items()}
        clients = {size: await context.__aenter__() for size, context in contexts.items()}
        try:
            for size, app in apps.items():
                started = time.perf_counter()
                await seed(app, size, random.Random(size))
                await settle(app.state.sessions.kw["bind"], ["submissions", "surveys"])
                print(f"seeded {size:,} submissions in {time.perf_counter() - started:.0f} s", flush=True)
            asked = paths(datetime.now(UTC))
            for size in sizes:
                timings[size] = {name: [] for name in asked}
            for _ in range(rounds):
                for name, path in asked.items():
                    for size in sizes:
                        started = time.perf_counter()
                        response = await clients[size].get(path, headers=anonymous("submissions"))
                        elapsed = time.perf_counter() - started
                        assert response.status_code == 200, response.text
                        timings[size][name].append(elapsed * 1000)
        finally:
            for context in contexts.values():
                await context.__aexit__(None, None, None)
    finally:
        await databases.drop_all()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=os.environ.get("SIMPUL_TEST_POSTGRES"))
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.postgres:
        os.environ["SIMPUL_TEST_POSTGRES"] = args.postgres
    else:
        os.environ.pop("SIMPUL_TEST_POSTGRES", None)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="simpul-bench-reports-") as directory:
        timings = asyncio.run(measure(sizes, args.rounds, Path(directory)))
    backend = "PostgreSQL" if args.postgres else "SQLite"
    small, large = sizes[0], sizes[-1]
    print(f"\n{backend}: median ms over {args.rounds} rounds")
    print(f"{'report':<22}" + "".join(f"{size:>14,}" for size in sizes) + f"{'ratio':>10}")
    for name in timings[small]:
        medians = {size: statistics.median(timings[size][name]) for size in sizes}
        print(f"{name:<22}" + "".join(f"{medians[size]:>14.1f}" for size in sizes)
              + f"{medians[large] / medians[small]:>10.2f}")


if __name__ == "__main__":
    main()
