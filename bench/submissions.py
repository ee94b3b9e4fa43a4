"""Submissions through the gateway: write throughput, and whether lists and tracking stay fast
as the table grows from ten thousand to a million rows.

    .venv/bin/python bench/submissions.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--backends sqlite,postgres] [--duration 15] [--concurrency 32] [--large 1000000]
        [--phases throughput,sizes] [--flows create+upload+submit,create+submit] [--profile]

For each backend (SQLite files; PostgreSQL when a server is given with --postgres or
SIMPUL_TEST_POSTGRES) systems of gateway + catalogue + submissions run as real processes on
free loopback ports, the way `make run` starts them (the e2e harness, tests/support/processes.py):

1. Throughput, on a system of its own: C concurrent clients (aiohttp) repeat
   `POST /v1/submissions` -> `POST .../documents` (a small PDF) -> `POST .../submit` for D seconds,
   then `POST /v1/submissions` -> `POST .../submit` on a service that needs no documents.
   Printed: completed flows per second, HTTP requests per second, and the CPU milliseconds each
   process spent per flow (from /proc; unlike flows per second it doesn't depend on what else
   the machine runs, so it tells what an idle two-core machine could do): the three services,
   the bench's own client, and every PostgreSQL server process when the server is local; then
   how busy the whole machine was and the part of it that was nobody's here ("other load").
   `--profile` runs each flow once more with py-spy sampling the submissions process.
2. Size: two more systems; rows are seeded directly into each one's submissions database until
   the first holds 10 thousand and the second 1 million (realistic spread over 20 units, 34 regions and every
   state), then ANALYZE. `GET /v1/submissions?status=submitted` (as the officer of one unit) and
   `GET /v1/track/{code}` (random seeded codes, anonymous) are measured on both in interleaved
   rounds (4 clients, R requests each); the table gives the median over rounds of p50 and p99
   and the ratio 1M / 10k. Target: p99 ratio <= 1.3; >= 500 create+submit per second on PostgreSQL.

Results also go to bench/out/submissions-<time>.json. Everything started here is stopped at the
end, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sqlite3
import subprocess
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from measuring import OUT, ROOT, cpu_seconds, machine_busy_seconds, percentile, postgres_cpu_seconds, py_spy
from public_api import PDF, UNIT, call, client_token, publish_services, token

sys.path.insert(0, str(ROOT))

from simpul.shared.db import create_engine  # noqa: E402
from simpul.submissions.models import submissions  # noqa: E402
from simpul.submissions.access import TRACKING_ALPHABET, TRACKING_LENGTH  # noqa: E402
from tests.support.databases import TestDatabases  # noqa: E402
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, System  # noqa: E402

SERVICES = ("gateway", "catalog", "submissions")
OTHER_UNITS = [f"UNIT-{n:02d}" for n in range(19)]
REGIONS = [str(code) for code in (11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53,
                                  61, 62, 63, 64, 65, 71, 72, 73, 74, 75, 76, 81, 82, 91, 94)]
STATES = [("draft", 10), ("submitted", 30), ("in_review", 20), ("revision_requested", 5), ("approved", 3),
          ("issued", 22), ("rejected", 7), ("cancelled", 3)]
P99_TARGET = 1.3
THROUGHPUT_TARGET = 500


# --- the systems ------------------------------------------------------------------------------


class Bench:
    """One running system and the clients the bench uses on it."""

    def __init__(self, name: str, directory: Path, postgres: str | None) -> None:
        self.name = name
        self.databases = TestDatabases(directory)
        self.databases.server = postgres
        self.system = System(directory, self.databases, services=SERVICES, extra_env={
            "SIMPUL_DEMO": "0",
            # The bench measures the services, not the per-client rate limit.
            "SIMPUL_RATE_LIMIT_PER_MINUTE": "100000000",
        })
        self.tokens: dict[str, str] = {}
        self.codes: dict[str, str] = {}

    def start(self) -> None:
        self.system.start()

    def stop(self) -> None:
        self.system.stop()
        asyncio.run(self.databases.drop_all())

    @property
    def url(self) -> str:
        return self.system.gateway_url

    def database_url(self) -> str:
        env = self.system["submissions"].env
        return env.get("SIMPUL_SUBMISSIONS_DATABASE_URL") or (
            f"sqlite+aiosqlite:///{Path(env['SIMPUL_DATA_DIR']).resolve() / 'submissions.db'}"
        )

    async def setup(self, http: aiohttp.ClientSession) -> None:
        admin = await token(http, self.url, ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
        self.codes = await publish_services(http, self.url, admin)
        for role, tenant in (("applicant", "31"), ("officer", UNIT)):
            self.tokens[role] = await client_token(http, self.url, admin, role, tenant)


# --- 1. throughput ----------------------------------------------------------------------------


async def throughput(bench: Bench, *, with_upload: bool, duration: float, concurrency: int) -> dict:
    url = bench.url
    postgres = bench.databases.server is not None
    bearer = bench.tokens["applicant"]
    code = bench.codes["upload" if with_upload else "plain"]
    body = {"service_code": code, "applicant": {"name": "Budi", "email": "budi@example.go.id"},
            "data": {"perihal": "Uji beban", "jumlah": 3}}
    flows = requests = errors = 0
    stop_at = time.perf_counter() + duration

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal flows, requests, errors
        while time.perf_counter() < stop_at:
            try:
                created = await call(http, "POST", f"{url}/v1/submissions", bearer, json=body, ok=201)
                requests += 1
                if with_upload:
                    form = aiohttp.FormData()
                    form.add_field("requirement_code", "SURAT")
                    form.add_field("file", PDF, filename="surat.pdf", content_type="application/pdf")
                    await call(http, "POST", f"{url}/v1/submissions/{created['id']}/documents", bearer,
                               data=form, ok=201)
                    requests += 1
                await call(http, "POST", f"{url}/v1/submissions/{created['id']}/submit", bearer, ok=200)
                requests += 1
                flows += 1
            except (RuntimeError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                errors += 1
                if errors <= 3:
                    print(f"  error: {exc}", flush=True)

    pids = {name: bench.system[name].process.pid for name in SERVICES}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        # Every PostgreSQL process on this machine: other users of the server count too, so this
        # one is only as clean as the machine is quiet.
        postgres_before = sum(postgres_cpu_seconds().values()) if postgres else 0.0
        client_before = time.process_time()
        machine_before = machine_busy_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        # The bench's own client shares the two cores with the services.
        cpu["bench client"] = time.process_time() - client_before
        if postgres:
            cpu["postgres"] = sum(postgres_cpu_seconds().values()) - postgres_before
        machine = machine_busy_seconds() - machine_before
    # CPU per flow does not depend on what else the machine runs, unlike flows per second.
    cpu_ms = {name: 1000 * seconds / max(flows, 1) for name, seconds in cpu.items()}
    # What the rest of the machine used meanwhile (another user's tests), in cores: with two cores,
    # flows per second mean little once this nears one.
    other = max(0.0, machine - sum(cpu.values())) / elapsed
    return {"flows_per_s": flows / elapsed, "requests_per_s": requests / elapsed, "flows": flows, "errors": errors,
            "cpu_ms_per_flow": cpu_ms, "busy_cores": machine / elapsed, "other_load_cores": other,
            "load_average": os.getloadavg()[0]}


async def profile(bench: Bench, name: str, *, with_upload: bool, duration: float, concurrency: int) -> Path:
    """One more run of the flow with py-spy sampling the submissions process: collapsed stacks in
    bench/out/ (flamegraph.pl or speedscope read them). Sampling slows the process, so this run's
    figures are not reported."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    OUT.mkdir(parents=True, exist_ok=True)
    output = OUT / f"profile-submissions-{name}-{bench.name}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    recorder = subprocess.Popen(
        [tool, "record", "--pid", str(bench.system["submissions"].process.pid), "--duration", f"{duration:g}",
         "--rate", "250", "--format", "raw", "--output", str(output), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(0.5)
        await throughput(bench, with_upload=with_upload, duration=duration, concurrency=concurrency)
        await asyncio.to_thread(recorder.wait, duration + 30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    return output


# --- 2. seeding -------------------------------------------------------------------------------


def seeded_id(moment: datetime) -> str:
    value = int(moment.timestamp() * 1000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


def seeded_rows(count: int, rng: random.Random) -> list[dict]:
    now = datetime.now(UTC)
    states = [state for state, weight in STATES for _ in range(weight)]
    standard = {
        "name": "Layanan", "name_en": None, "unit": UNIT, "form_schema": {},
        "requirements": [{"code": "SURAT", "name": "Surat", "required": True,
                          "content_types": ["application/pdf"], "max_bytes": 1_000_000}],
        "sla_working_days": 5, "fee": {"amount": 50000, "currency": "IDR", "legal_basis": "PP 1/2026"},
        "output": {"name": "Surat Keterangan"},
    }
    rows = []
    for _ in range(count):
        created = now - timedelta(days=2 * 365 + 1) + timedelta(seconds=rng.uniform(0, 2 * 365 * 86400))
        status = rng.choice(states)
        unit = UNIT if rng.random() < 0.05 else rng.choice(OTHER_UNITS)
        submitted = created + timedelta(hours=1) if status != "draft" else None
        due = submitted + timedelta(days=7) if submitted else None
        stopped = submitted + timedelta(days=5) if status in ("approved", "issued", "rejected", "cancelled") and submitted else None
        paused = submitted + timedelta(days=2) if status == "revision_requested" else None
        overdue_from = None
        if due is not None and (stopped is None or stopped > due) and (paused is None or paused > due):
            overdue_from = due
        rows.append({
            "id": seeded_id(created),
            "tracking_code": "".join(rng.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH)),
            "status": status, "version": 3, "tenant": rng.choice(REGIONS), "unit": unit,
            "service_code": f"SVC-{unit}", "service_version": 1, "service_name": "Layanan",
            "standard": {**standard, "unit": unit}, "applicant": {"name": "Warga", "email": "warga@example.go.id",
                                                                  "language": "id"},
            "data": {"perihal": "Permohonan"}, "created_by": "seed", "created_at": created, "updated_at": created,
            "sla_working_days": 5, "submitted_at": submitted, "due_at": due, "paused_at": paused,
            "paused_working_days": 0, "stopped_at": stopped, "overdue_from": overdue_from,
            "receipt_number": f"{unit}/{created.year}/S{secrets.token_hex(6)}" if submitted else None,
            "receipt_issued_at": submitted, "approved_at": None, "approved_by": None, "decision_note": None,
            "issued_documents": None,
        })
    return rows


def checkpoint(path: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").close()


async def settle(engine, tables: list[str]) -> None:
    """The steady state of a database that has been running a while: statistics fresh, PostgreSQL's
    `tables` vacuumed (so autovacuum doesn't start in the middle of the measurement), SQLite's
    write-ahead log checkpointed into the database file."""
    if engine.dialect.name == "sqlite":
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        # Outside any transaction, which the engine's connections always open.
        await asyncio.to_thread(checkpoint, engine.url.database)
    else:
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in tables:
                await autocommit.exec_driver_sql(f"VACUUM ANALYZE {table}")


async def seed(bench: Bench, total: int, batch: int = 5000) -> list[str]:
    """Bring the table to `total` rows; returns a sample of seeded tracking codes."""
    engine = create_engine(bench.database_url())
    rng = random.Random(bench.name)
    sample: list[str] = []
    try:
        async with engine.connect() as connection:
            existing = (await connection.execute(select(func.count()).select_from(submissions))).scalar_one()
        remaining = total - existing
        started = time.perf_counter()
        while remaining > 0:
            rows = seeded_rows(min(batch, remaining), rng)
            async with engine.begin() as connection:
                await connection.execute(submissions.insert(), rows)
            sample.extend(row["tracking_code"] for row in rows[:: max(1, len(rows) // 50)])
            remaining -= len(rows)
        print(f"  {bench.name}: seeded {max(0, total - existing)} rows in {time.perf_counter() - started:.0f} s",
              flush=True)
        if not sample:
            async with engine.connect() as connection:
                found = await connection.execute(select(submissions.c.tracking_code).limit(500))
                sample = [code for (code,) in found]
        await settle(engine, ["submissions"])
    finally:
        await engine.dispose()
    return sample


# --- 3. latency -------------------------------------------------------------------------------


async def latencies(url: str, paths: list[str], bearer: str | None, clients: int = 4) -> list[float]:
    queue = list(paths)
    timings: list[float] = []
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}

    async def worker(http: aiohttp.ClientSession) -> None:
        while queue:
            path = queue.pop()
            started = time.perf_counter()
            async with http.get(f"{url}{path}", headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: {response.status} {(await response.read())[:300]!r}")
            timings.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        await asyncio.gather(*(worker(http) for _ in range(clients)))
    return timings


async def measure_sizes(small: Bench, large: Bench, samples: dict[str, list[str]], *, rounds: int,
                        requests: int) -> dict:
    results: dict[str, dict[str, list[tuple[float, float]]]] = {
        b.name: {"list": [], "track": []} for b in (small, large)
    }
    rng = random.Random(7)
    order = [small, large]
    for bench in order:  # warm-up: caches, connection pools, query plans
        await latencies(bench.url, ["/v1/submissions?status=submitted"] * 100, bench.tokens["officer"])
        await latencies(bench.url, [f"/v1/track/{c}" for c in samples[bench.name][:100]], None)
    for round_number in range(rounds):
        for bench in order if round_number % 2 == 0 else reversed(order):
            listed = await latencies(bench.url, ["/v1/submissions?status=submitted"] * requests,
                                     bench.tokens["officer"])
            codes = [rng.choice(samples[bench.name]) for _ in range(requests)]
            tracked = await latencies(bench.url, [f"/v1/track/{c}" for c in codes], None)
            results[bench.name]["list"].append((percentile(listed, 0.5), percentile(listed, 0.99)))
            results[bench.name]["track"].append((percentile(tracked, 0.5), percentile(tracked, 0.99)))
    summary = {}
    for name, kinds in results.items():
        summary[name] = {
            kind: {"p50_ms": 1000 * statistics.median(p50 for p50, _ in values),
                   "p99_ms": 1000 * statistics.median(p99 for _, p99 in values)}
            for kind, values in kinds.items()
        }
    return summary


# --- main -------------------------------------------------------------------------------------


@contextmanager
def running(bench: Bench) -> Iterator[Bench]:
    bench.system.directory.mkdir(parents=True, exist_ok=True)
    try:
        bench.start()
        yield bench
    except BaseException:
        print(f"-- logs of the {bench.name} system\n{bench.system.logs()}", file=sys.stderr)
        raise
    finally:
        bench.stop()


def size_name(rows: int) -> str:
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    return f"{rows // 1000}k" if rows >= 1000 and rows % 1000 == 0 else str(rows)


def run_backend(backend: str, postgres: str | None, args, directory: Path) -> dict:
    print(f"== {backend}", flush=True)
    server = postgres if backend == "postgres" else None
    writes = Bench("writes", directory / f"{backend}-writes", server)
    small = Bench(size_name(args.small), directory / f"{backend}-small", server)
    large = Bench(size_name(args.large), directory / f"{backend}-large", server)
    result: dict = {}
    if "throughput" in args.phases:
        write_phase(writes, args, result)
    if "sizes" in args.phases:
        size_phase(small, large, args, result)
    return result


def write_phase(writes: Bench, args, result: dict) -> None:
    # Writes run on a system of their own, so that the two systems compared by size hold nothing
    # but seeded rows of one shape and differ only in how many there are.
    with running(writes):

        async def write() -> None:
            async with aiohttp.ClientSession() as http:
                await writes.setup(http)
            for with_upload in (True, False):
                name = "create+upload+submit" if with_upload else "create+submit"
                if name not in args.flows:
                    continue
                measured = result[name] = await throughput(
                    writes, with_upload=with_upload, duration=args.duration, concurrency=args.concurrency
                )
                cpu = ", ".join(f"{service} {ms:.1f}" for service, ms in measured["cpu_ms_per_flow"].items())
                print(f"  {name}: {measured['flows_per_s']:.0f} flows/s ({measured['requests_per_s']:.0f} requests/s, "
                      f"{measured['errors']} errors); CPU ms per flow: {cpu}; machine busy "
                      f"{measured['busy_cores']:.2f} cores, other load {measured['other_load_cores']:.2f} cores; "
                      f"load average {measured['load_average']:.1f}",
                      flush=True)
                if args.profile:
                    profiled = await profile(writes, name, with_upload=with_upload, duration=args.duration,
                                             concurrency=args.concurrency)
                    print(f"  profile of submissions: {profiled.relative_to(ROOT)}", flush=True)

        asyncio.run(write())


def size_phase(small: Bench, large: Bench, args, result: dict) -> None:
    with running(small), running(large):

        async def sizes() -> dict:
            async with aiohttp.ClientSession() as http:
                for bench in (small, large):
                    await bench.setup(http)
            samples = {small.name: await seed(small, args.small), large.name: await seed(large, args.large)}
            return await measure_sizes(small, large, samples, rounds=args.rounds, requests=args.requests)

        result["sizes"] = asyncio.run(sizes())
    sizes = result["sizes"]
    s, l = small.name, large.name
    print(f"  {'':24}{'p50 ' + s:>10}{'p99 ' + s:>10}{'p50 ' + l:>10}{'p99 ' + l:>10}{f'p99 {l}/{s}':>14}")
    for kind, label in (("list", "GET ?status=submitted"), ("track", "GET /v1/track/{code}")):
        a, b = sizes[small.name][kind], sizes[large.name][kind]
        ratio = b["p99_ms"] / a["p99_ms"]
        result.setdefault("ratios", {})[kind] = ratio
        verdict = "ok" if ratio <= P99_TARGET else f"above {P99_TARGET}"
        print(f"  {label:24}{a['p50_ms']:>8.1f}ms{a['p99_ms']:>8.1f}ms{b['p50_ms']:>8.1f}ms{b['p99_ms']:>8.1f}ms"
              f"{ratio:>12.2f}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("SIMPUL_TEST_POSTGRES"))
    parser.add_argument("--backends", default=None, help="sqlite,postgres (default: postgres too if a server is known)")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--phases", default="throughput,sizes", type=lambda v: v.split(","),
                        help="throughput,sizes (default: both)")
    parser.add_argument("--flows", default="create+upload+submit,create+submit", type=lambda v: v.split(","),
                        help="which write flows the throughput phase measures (default: both)")
    parser.add_argument("--profile", action="store_true",
                        help="after each measured write flow, one more run with py-spy sampling the submissions "
                             "process (collapsed stacks to bench/out/)")
    args = parser.parse_args()
    backends = (args.backends or ("sqlite,postgres" if args.postgres else "sqlite")).split(",")
    if "postgres" in backends and not args.postgres:
        sys.exit("bench: --postgres URL (or SIMPUL_TEST_POSTGRES) is needed for the postgres backend")
    results = {}
    with tempfile.TemporaryDirectory(prefix="simpul-bench-") as directory:
        for backend in backends:
            results[backend] = run_backend(backend, args.postgres, args, Path(directory))
    if "create+submit" in results.get("postgres", {}):
        flows = results["postgres"]["create+submit"]["flows_per_s"]
        verdict = "ok" if flows >= THROUGHPUT_TARGET else f"below {THROUGHPUT_TARGET}"
        print(f"create+submit on PostgreSQL through the gateway: {flows:.0f}/s ({verdict})")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"submissions-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"figures in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
