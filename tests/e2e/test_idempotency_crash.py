"""A burst of keyed create+submit flows through the gateway while the submissions process is
SIGKILLed and started again: every client retries each request with its key until it is done.
Every flow completes, no retry is ever told that its key is "in progress" (a key is written only
with its effect), and there are exactly as many submissions as create keys, each submitted once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import start_system
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.e2e

FLOWS = 60
CONCURRENT = 20
KILL_AFTER_CREATED = 15


@pytest.fixture(scope="module")
def crashable(tmp_path_factory):
    system, databases = start_system(
        tmp_path_factory.mktemp("crash"),
        extra_env={"SIMPUL_RATE_LIMIT_PER_MINUTE": "100000"},
    )
    yield system
    system.stop()
    asyncio.run(databases.drop_all())


class Progress:
    def __init__(self) -> None:
        self.created = 0
        self.enough_created = threading.Event()
        self.outcomes: dict[str, tuple[dict, float]] = {}  # create key -> (submitted, when done)
        self.retried: dict[str, int] = {}  # what made a client retry -> how often

    def note_created(self) -> None:
        self.created += 1
        if self.created >= KILL_AFTER_CREATED:
            self.enough_created.set()


async def until_done(
    client: httpx.AsyncClient, path: str, key: str, expected: int, progress: Progress, **request
) -> dict:
    """Send the request with its key until it is answered with `expected`; anything else a
    client can see while a process dies and restarts is retried after a pause."""
    headers = {"Idempotency-Key": key}
    while True:
        try:
            response = await client.post(path, headers=headers, **request)
        except httpx.TransportError as error:
            progress.retried[type(error).__name__] = progress.retried.get(type(error).__name__, 0) + 1
            await asyncio.sleep(0.2)
            continue
        if response.status_code == expected:
            if response.headers.get("idempotent-replayed"):
                progress.retried["answered-by-replay"] = progress.retried.get("answered-by-replay", 0) + 1
            return response.json()
        retryable = response.status_code in (502, 503, 504, 429)
        assert retryable, f"{path}: {response.status_code} {response.text}"
        reason = response.json().get("type", "").rpartition(":")[2] or str(response.status_code)
        progress.retried[reason] = progress.retried.get(reason, 0) + 1
        await asyncio.sleep(min(float(response.headers.get("retry-after", "0.2")), 0.5))


async def run_flows(base_url: str, token: str, code: str, progress: Progress) -> None:
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30.0, limits=limits) as client:
        gate = asyncio.Semaphore(CONCURRENT)

        async def flow(number: int) -> None:
            create_key, submit_key = uuid.uuid4().hex, uuid.uuid4().hex
            draft = {
                "service_code": code,
                "applicant": {"name": f"Pemohon {number}", "email": f"p{number}@example.go.id"},
                "data": {"perihal": f"Permohonan nomor {number}"},
            }
            async with gate:
                created = await until_done(client, "/v1/submissions", create_key, 201, progress, json=draft)
                progress.note_created()
                path = f"/v1/submissions/{created['id']}/submit"
                submitted = await until_done(client, path, submit_key, 200, progress)
            progress.outcomes[create_key] = (submitted, time.monotonic())

        await asyncio.gather(*(flow(number) for number in range(FLOWS)))


def test_keyed_flows_complete_once_through_a_sigkill(crashable):
    api = PublicApi(crashable.gateway_url)
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    code = f"UJI-{uuid.uuid4().hex[:8].upper()}"
    body = {**service_body(code, "E2E-CRASH"), "requirements": []}
    assert admin.post("/v1/services", json=body).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    applicant = api.create_client(admin, "applicant", "31")
    token = api.token(applicant["client_id"], applicant["client_secret"])

    progress = Progress()
    flows = threading.Thread(target=lambda: asyncio.run(run_flows(crashable.gateway_url, token, code, progress)))
    started = time.monotonic()
    flows.start()
    assert progress.enough_created.wait(60), crashable.logs()
    crashable["submissions"].kill()  # in the middle of the burst: some effects half done, some answers unsent
    crashable["submissions"].start()
    crashable["submissions"].wait_ready()
    back = time.monotonic()
    flows.join(120)
    assert not flows.is_alive(), crashable.logs()

    assert len(progress.outcomes) == FLOWS
    latest = max(done for _, done in progress.outcomes.values())
    print(f"\n{FLOWS} flows in {latest - started:.1f} s; the last done {latest - back:.1f} s after the restart;"
          f" retries: {progress.retried}")

    submissions = []
    cursor = None
    while True:
        params = {"service_code": code, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/v1/submissions", params=params).json()
        submissions += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(submissions) == FLOWS  # one per create key: no retry made a second one
    assert {s["status"] for s in submissions} == {"submitted"}
    assert sorted(s["id"] for s in submissions) == sorted(s["id"] for s, _ in progress.outcomes.values())
    receipts = [s["receipt"]["number"] for s in submissions]
    assert len(set(receipts)) == FLOWS
    admin.close()
    api.close()
