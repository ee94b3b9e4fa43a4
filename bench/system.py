"""The whole system at full speed, as a deployment runs it: the five services on PostgreSQL and
RabbitMQ, every mail handed to an SMTP server, an HTTP client driving the gateway.

    .venv/bin/python bench/system.py [--duration 20] [--flows create+submit,create+upload+submit,approve]
        [--concurrency 32] [--rate [FLOW=]FLOWS_PER_S[,...]] [--sqlite] [--replicas 1,2] [--profile] [--keep]
        [--wait-quiet SECONDS]

The five services run as real processes, `python -m simpul.<service>` as the Procfile starts
them (tests/support/processes.py), on free loopback ports: each on a PostgreSQL database of its
own, created and dropped here; SIMPUL_EVENT_BROKER on a RabbitMQ virtual host of their own,
added and deleted here with rabbitmqctl; SIMPUL_SMTP_HOST/PORT on an aiosmtpd server in this
process that takes every mail. `--sqlite` runs them on their embedded defaults instead (SQLite
files, events pushed over HTTP). The servers are SIMPUL_TEST_POSTGRES / SIMPUL_TEST_AMQP, else
PostgreSQL and RabbitMQ on 127.0.0.1 with their default ports and users; they must be local,
since their CPU is read from /proc.

An aiohttp client in this process drives the gateway only, C flows at a time (each flow waits
for its answers), with API clients it creates as the admin: applicants of four regions, an
officer of the services' unit. Every POST carries a fresh Idempotency-Key, as a client that may
retry does. The flows:

    create+submit          POST /v1/submissions, POST /v1/submissions/{id}/submit
    create+upload+submit   the same with a small PDF per required document of the service between
    approve                approve -> issued: the officer's start_review and approve on
                           submissions the other flows submitted, then GET /v1/track/{code} (after
                           0.1 s, doubling to 1 s) until it shows `issued`: the output rendered,
                           signed, stored and recorded

Each flow is warmed up and its mail drained, then run for D seconds; then the bench waits for
the mail of the measured flows (bounded). Printed per flow: flows per second, p50 / p99 of a
flow's latency, and the CPU milliseconds per flow of every process over the run and its mail
(from /proc): the five services with their workers, PostgreSQL's backends of the bench's
databases, RabbitMQ's beam.smp, their sum (the system), the bench's client and its SMTP server;
for the create flows p50 / p99 from sending the submit to the SMTP server accepting that
submission's mail (found by its tracking code in the subject). Also the services' memory right
after start and after the load, and the CPU the machine's other processes used meanwhile
("other load", in cores): the machine is shared, flows per second move with that load, and the
CPU per flow is the figure to compare. Targets for two cores are printed beside the figures.

`--replicas 1,2` measures one deployment after the other, each fresh (databases, virtual host):
one copy of each service as above, then two, started as tests/support/cluster.py starts the e2e
cluster (every caller given every copy in SIMPUL_<SERVICE>_URL, nginx in front of the gateways,
their rate limits and revocations in Redis under a key prefix of the run's own, deleted after).
A service's line sums its copies; nginx (master and worker) and redis-server have their own lines
in the system's sum. Printed side by side: each count's figures and its system CPU per flow
against the first count's, with nginx and without it (the coordination inside Simpul), against
the target of 1.1.

`--profile` runs each flow once more with py-spy sampling the five services and prints where
submissions and notifications spend their CPU; stacks go to bench/out/. Full figures go to
bench/out/system-<time>.json. Everything started here is stopped, and every database and
virtual host made here removed, also on an error or Ctrl-C; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from measuring import (OUT, ROOT, group_cpu_seconds, group_memory_bytes, machine_busy_seconds, named_cpu_seconds,
                       percentile, postgres_cpu_seconds, py_spy, thread_cpu_seconds, wait_for_quiet_machine)
from public_api import PDF, UNIT, call, client_token, publish_services, token

sys.path.insert(0, str(ROOT))

from tests.e2e.notifications.receivers import MailSink, amqp_vhost  # noqa: E402
from tests.support.databases import TestDatabases  # noqa: E402
from tests.support.cluster import Replicated, redis_env, start_replicated  # noqa: E402
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, ALL_SERVICES, ServiceProcess  # noqa: E402

FLOWS = {"create+submit": "create+submit", "create+upload+submit": "create+upload+submit", "approve": "approve->issued"}
RATE_TARGETS = {"create+submit": 500.0, "create+upload+submit": 250.0, "approve": 40.0}
CPU_TARGET_MS = 4.0  # per create+submit, the system's processes together
MAIL_P99_TARGET_MS = 1000.0
IDLE_RSS_TARGET_MB = 500.0
# nginx and Redis run only with replicas: in front of the gateways, and their shared state.
SYSTEM_PARTS = (*ALL_SERVICES, "postgres", "rabbitmq", "redis", "nginx")
# CPU per flow with 2 copies of everything against 1: the replicas' coordination must be nearly free.
SCALING_CPU_RATIO_TARGET = 1.1
# Flows per second within this share of each other count as the same load.
SAME_LOAD_TOLERANCE = 0.05
REGIONS = ("31", "32", "33", "34")
# The approve flow polls the tracking page at 0.1 s, then twice as long each time up to 1 s: a
# fine view of a fast issue without crowding the services with polls while signing queues.
TRACK_POLL_SECONDS = (0.1, 1.0)
ISSUE_TIMEOUT_SECONDS = 120.0
# A drain ends early when no mail came for this long although some are still expected (a
# template that mails less than counted, a lost mail): they are then reported missing.
MAIL_QUIET_SECONDS = 5.0
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
MB = 1024 * 1024


# --- the deployment ---------------------------------------------------------------------------


class SmtpServer(MailSink):
    """The tests' SMTP server, knowing its thread: its CPU is the mail server's, not the client's."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        before = set(threading.enumerate())
        super().start()
        self.threads = [thread for thread in threading.enumerate() if thread not in before]

    def cpu_seconds(self) -> float:
        return sum(thread_cpu_seconds(thread.native_id) for thread in self.threads if thread.is_alive())


class Deployment:
    """N copies of each of the five services wired as a deployment wires them (nginx in front of
    the gateways and their shared state in Redis when N > 1), the SMTP server they mail to, and
    the databases and virtual host made for them. Whatever is made is undone by `stack`."""

    def __init__(self, args: argparse.Namespace, directory: Path, stack: ExitStack, replicas: int = 1) -> None:
        self.directory, self.stack, self.copies = directory, stack, replicas
        self.smtp = SmtpServer()
        self.smtp.start()
        stack.callback(self.smtp.stop)
        self.databases = TestDatabases(directory)
        self.databases.server = None if args.sqlite else args.postgres
        stack.callback(lambda: asyncio.run(self.databases.drop_all()))
        self.env = {
            "SIMPUL_SMTP_HOST": "127.0.0.1",
            "SIMPUL_SMTP_PORT": str(self.smtp.port),
            "SIMPUL_DEMO": "0",  # a deployment's default: the bench publishes its own services
            "SIMPUL_LOG_LEVEL": "info",  # a deployment's default
            # The bench measures the services, not the per-client rate limit; one token each
            # lasts the whole run.
            "SIMPUL_RATE_LIMIT_PER_MINUTE": "100000000",
            "SIMPUL_TOKEN_LIFETIME_SECONDS": "86400",
        }
        self.broker = not args.sqlite
        if self.broker:
            self.env["SIMPUL_EVENT_BROKER"] = stack.enter_context(amqp_vhost(args.amqp))[0]
        # Gateway replicas share their rate limits and revocations, as a deployment of them must.
        self.redis = replicas > 1
        if self.redis:
            self.env.update(redis_env(stack, args.redis, owner="bench-system"))
        self.started: Replicated | None = None

    def start(self) -> None:
        self.started = start_replicated(self.directory, self.databases, dict.fromkeys(ALL_SERVICES, self.copies),
                                        self.env, self.stack)

    @property
    def url(self) -> str:
        return self.started.url

    def processes(self) -> dict[str, ServiceProcess]:
        """Every copy, by name: the service's for its first copy, then "<service>-2", ..."""
        return {name if number == 1 else f"{name}-{number}": process
                for name, copies in self.started.replicas.items() for number, process in enumerate(copies, 1)}

    def pids(self) -> dict[str, list[int]]:
        """The process of each copy of every service (each leads a process group of its own)."""
        return {name: [process.process.pid for process in copies] for name, copies in self.started.replicas.items()}

    def logs(self) -> str:
        return self.started.logs() if self.started is not None else "(not started)"

    def check_alive(self) -> None:
        for name, process in self.processes().items():
            if process.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.process.returncode}:\n{process.log_tail()}")

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of every process the bench accounts for (the copies of a service
        together), and of the whole machine."""
        pids = self.pids()
        nginx = self.started.nginx
        groups = group_cpu_seconds([*(pid for copies in pids.values() for pid in copies),
                                    *([nginx.process.pid] if nginx else [])])  # with its workers
        seconds = {name: sum(groups[pid] for pid in copies) for name, copies in pids.items()}
        if nginx:
            seconds["nginx"] = groups[nginx.process.pid]
        if self.databases.server is not None:
            postgres = postgres_cpu_seconds(self.databases.created)
            seconds["postgres"] = postgres["backends"]
            seconds["postgres server"] = postgres["server"]
        if self.broker:
            seconds["rabbitmq"] = named_cpu_seconds("beam.smp")
        if self.redis:
            seconds["redis"] = named_cpu_seconds("redis-server")
        smtp = self.smtp.cpu_seconds()
        seconds["smtp server"] = smtp
        seconds["bench client"] = time.process_time() - smtp
        seconds["machine"] = machine_busy_seconds()
        return seconds

    def memory(self) -> dict[str, dict[str, int]]:
        """RSS and PSS of each service, its copies together."""
        totals: dict[str, dict[str, int]] = {}
        for name, copies in self.pids().items():
            for pid in copies:
                for kind, value in group_memory_bytes(pid).items():
                    totals.setdefault(name, {}).setdefault(kind, 0)
                    totals[name][kind] += value
        return totals


# --- the client -------------------------------------------------------------------------------


@dataclass
class Submitted:
    id: str
    tracking_code: str


@dataclass
class Run:
    """What one run of a flow did."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    submits: dict[str, float] = field(default_factory=dict)  # tracking code -> when its submit was sent
    polls: int = 0
    elapsed: float = 0.0


class Driver:
    """The API clients and the flows, through the gateway."""

    def __init__(self, deployment: Deployment, http: aiohttp.ClientSession, concurrency: int,
                 rates: dict[str, float] | None = None) -> None:
        self.deployment = deployment
        self.url = deployment.url
        self.http = http
        self.concurrency = concurrency
        # Flows started per second, per flow ("*": every flow); none: as fast as the answers come.
        self.rates = rates or {}
        self.applicants: list[str] = []
        self.officer = ""
        self.codes: dict[str, str] = {}
        self.required: dict[str, list[str]] = {}
        # Submitted and not yet taken for review, oldest first: the approve flow's supply.
        self.submitted: deque[Submitted] = deque()
        # Mails the applicants should have got so far: one per state change they are told of.
        self.expected_mails = 0

    async def setup(self) -> None:
        admin = await token(self.http, self.url, ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
        self.codes = await publish_services(self.http, self.url, admin)
        for kind, code in self.codes.items():
            standard = await call(self.http, "GET", f"{self.url}/v1/services/{code}", None, ok=200)
            self.required[kind] = [item["code"] for item in standard["requirements"] if item["required"]]
        self.applicants = [await client_token(self.http, self.url, admin, "applicant", region) for region in REGIONS]
        self.officer = await client_token(self.http, self.url, admin, "officer", UNIT)

    async def create(self, worker: int, kind: str, run: Run) -> None:
        bearer = self.applicants[worker % len(self.applicants)]
        body = {"service_code": self.codes[kind], "applicant": {"name": "Budi", "email": f"budi{worker}@example.go.id"},
                "data": {"perihal": "Uji beban", "jumlah": 3}}
        created = await call(self.http, "POST", f"{self.url}/v1/submissions", bearer, ok=201, keyed=True, json=body)
        for requirement in self.required[kind]:
            form = aiohttp.FormData()
            form.add_field("requirement_code", requirement)
            form.add_field("file", PDF, filename="surat.pdf", content_type="application/pdf")
            await call(self.http, "POST", f"{self.url}/v1/submissions/{created['id']}/documents", bearer, ok=201,
                       keyed=True, data=form)
        sent = time.time()
        await call(self.http, "POST", f"{self.url}/v1/submissions/{created['id']}/submit", bearer, ok=200, keyed=True)
        self.expected_mails += 1
        run.submits[created["tracking_code"]] = sent
        self.submitted.append(Submitted(created["id"], created["tracking_code"]))

    async def approve(self, submitted: Submitted, run: Run) -> None:
        actions = f"{self.url}/v1/submissions/{submitted.id}/actions"
        await call(self.http, "POST", actions, self.officer, ok=200, keyed=True, json={"action": "start_review"})
        self.expected_mails += 1
        await call(self.http, "POST", actions, self.officer, ok=200, keyed=True,
                   json={"action": "approve", "note": "Lengkap"})
        self.expected_mails += 1
        deadline = time.monotonic() + ISSUE_TIMEOUT_SECONDS
        pause, longest = TRACK_POLL_SECONDS
        while True:
            await asyncio.sleep(pause)
            pause = min(2 * pause, longest)
            run.polls += 1
            tracked = await call(self.http, "GET", f"{self.url}/v1/track/{submitted.tracking_code}", None, ok=200)
            if tracked["status"] == "issued":
                self.expected_mails += 1
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{submitted.tracking_code} still {tracked['status']} {ISSUE_TIMEOUT_SECONDS:g} s "
                                   "after its approval")

    async def run(self, flow: str, duration: float, paced: bool = True) -> Run:
        """C workers repeat the flow for `duration` seconds; a flow under way is finished. With a
        rate, flows start at that rate (as far as C at a time allow), whatever the answers' pace."""
        run = Run()
        stop_at = time.monotonic() + duration
        rate = self.rates.get(flow, self.rates.get("*")) if paced else None
        next_start = time.monotonic()

        async def turn() -> bool:
            """Wait for the next start; False when it would come after the run (no waiting for it)."""
            nonlocal next_start
            at, next_start = next_start, next_start + 1 / rate
            if at >= stop_at:
                return False
            if at > time.monotonic():
                await asyncio.sleep(at - time.monotonic())
            return True

        async def worker(index: int) -> None:
            while time.monotonic() < stop_at:
                if rate and not await turn():
                    return
                if flow == "approve" and not self.submitted:
                    return  # the supply ran out; the flows done so far still count
                started = time.perf_counter()
                try:
                    if flow == "approve":
                        await self.approve(self.submitted.popleft(), run)
                    else:
                        await self.create(index, "upload" if flow == "create+upload+submit" else "plain", run)
                except (RuntimeError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    run.errors.append(str(exc)[:300])
                    if len(run.errors) <= 3:
                        print(f"  error: {run.errors[-1]}", flush=True)
                    continue
                run.latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker(index) for index in range(self.concurrency)))
        run.elapsed = time.perf_counter() - started
        self.deployment.check_alive()
        return run

    async def supply(self, count: int, limit_seconds: float) -> None:
        """Submit (unmeasured) until `count` submissions wait for review, at most `limit_seconds`."""
        deadline = time.monotonic() + limit_seconds
        while len(self.submitted) < count and time.monotonic() < deadline:
            await self.run("create+submit", 2.0, paced=False)

    async def drain_mail(self, limit_seconds: float) -> float:
        """Wait until every expected mail arrived, or none came for MAIL_QUIET_SECONDS, or the
        limit; returns how long it waited."""
        started = time.monotonic()
        seen, last_news = self.deployment.smtp.count(), started
        while self.deployment.smtp.count() < self.expected_mails:
            now = time.monotonic()
            if now - started > limit_seconds or now - last_news > MAIL_QUIET_SECONDS:
                break
            await asyncio.sleep(0.05)
            if self.deployment.smtp.count() != seen:
                seen, last_news = self.deployment.smtp.count(), time.monotonic()
        return time.monotonic() - started


# --- measuring --------------------------------------------------------------------------------


def mail_delays(smtp: SmtpServer, submits: dict[str, float]) -> dict:
    """From sending each submit to the SMTP server accepting that submission's first mail; the
    tracking code in the subject (every default template names it) says whose mail it is."""
    arrivals = smtp.arrivals()
    first: dict[str, float] = {}
    mails = Counter()
    for message in smtp.received():
        for code in set(re.findall(r"[0-9A-Z]{12}", str(message["Subject"] or ""))) & submits.keys():
            mails[code] += 1
            at = arrivals[message["Message-ID"]][0]
            first[code] = min(at, first.get(code, at))
    delays = [first[code] - sent for code, sent in submits.items() if code in first]
    return {
        "mails": len(delays),
        "missing": len(submits) - len(delays),
        "more_than_one": sum(1 for count in mails.values() if count > 1),
        "p50_ms": 1000 * percentile(delays, 0.5) if delays else None,
        "p99_ms": 1000 * percentile(delays, 0.99) if delays else None,
        "max_ms": 1000 * max(delays) if delays else None,
    }


async def measure(driver: Driver, flow: str, args: argparse.Namespace) -> dict:
    deployment = driver.deployment
    drain_limit = max(60.0, 3 * args.duration)
    if flow == "approve":
        # Enough for the target rate with room to spare; fewer end the run early.
        await driver.supply(int(RATE_TARGETS["approve"] * 1.5 * (args.warmup + args.duration)) + args.concurrency,
                            limit_seconds=300)
    await driver.run(flow, args.warmup)
    await driver.drain_mail(drain_limit)
    before, started = deployment.cpu(), time.perf_counter()
    run = await driver.run(flow, args.duration)
    mail_wait = await driver.drain_mail(drain_limit)
    after, window = deployment.cpu(), time.perf_counter() - started
    flows = len(run.latencies)
    spent = {name: after[name] - before[name] for name in after if name != "machine"}
    per_flow = {name: 1000 * seconds / max(flows, 1) for name, seconds in spent.items()}
    ours = sum(spent.values())
    result = {
        "flow": FLOWS[flow],
        "flows": flows,
        "seconds": run.elapsed,
        "flows_per_s": flows / run.elapsed if run.elapsed else 0.0,
        "p50_ms": 1000 * percentile(run.latencies, 0.5) if flows else None,
        "p99_ms": 1000 * percentile(run.latencies, 0.99) if flows else None,
        "errors": len(run.errors),
        "first_errors": run.errors[:5],
        "cpu_ms_per_flow": per_flow,
        "system_cpu_ms_per_flow": sum(per_flow.get(name, 0.0) for name in SYSTEM_PARTS),
        **({"system_cpu_ms_per_flow_without_nginx": sum(per_flow.get(name, 0.0) for name in SYSTEM_PARTS
                                                         if name != "nginx")} if "nginx" in per_flow else {}),
        "all_cpu_ms_per_flow": sum(per_flow.get(name, 0.0) for name in (*SYSTEM_PARTS, "bench client", "smtp server")),
        # The window is the run and the wait for its mail, so the mail's CPU counts.
        "cpu_window_s": window,
        "mail_wait_s": mail_wait,
        "other_load_cores": max(0.0, after["machine"] - before["machine"] - ours) / window,
        "load_average": os.getloadavg()[0],
    }
    if flow == "approve":
        result["track_polls_per_flow"] = run.polls / max(flows, 1)
        result["ran_out_of_submissions"] = not driver.submitted and run.elapsed < args.duration
    else:
        result["submit_to_mail"] = mail_delays(deployment.smtp, run.submits)
    return result


# --- profiling --------------------------------------------------------------------------------


async def profile(driver: Driver, flow: str, args: argparse.Namespace, stamp: str) -> dict[str, Path]:
    """One more run of the flow with py-spy sampling every service (signatures with its signing
    workers); collapsed stacks in bench/out/. Sampling slows the services: this run's figures
    are not reported."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("--profile needs py-spy (pip install -r requirements.txt)")
    if flow == "approve":
        await driver.supply(int(RATE_TARGETS["approve"] * 1.5 * args.duration) + args.concurrency, limit_seconds=300)
    OUT.mkdir(parents=True, exist_ok=True)
    outputs, recorders = {}, []
    messages = tempfile.TemporaryFile()  # noqa: SIM115 - py-spy's complaints, read when it wrote nothing
    for name, process in driver.deployment.processes().items():
        outputs[name] = OUT / f"system-{stamp}-profile-{flow.replace('+', '-')}-{name}.txt"
        command = [tool, "record", "--pid", str(process.process.pid), "--duration", f"{args.duration:g}", "--rate", "200",
                   "--format", "raw", "--output", str(outputs[name]), "--nonblocking"]
        if name.startswith("signatures"):
            command.append("--subprocesses")
        recorders.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=messages))
    try:
        await asyncio.sleep(1.0)  # py-spy attaches
        await driver.run(flow, args.duration)
        for recorder in recorders:
            await asyncio.to_thread(recorder.wait, args.duration + 30)
    finally:
        for recorder in recorders:
            if recorder.poll() is None:
                recorder.kill()
                recorder.wait()
    await driver.drain_mail(max(60.0, 3 * args.duration))
    missing = [name for name, path in outputs.items() if not path.exists()]
    if missing:
        messages.seek(0)
        print(f"  py-spy wrote nothing for {', '.join(missing)}: {messages.read()[-600:].decode(errors='replace')}",
              flush=True)
    messages.close()
    return {name: path for name, path in outputs.items() if path.exists()}


# py-spy names a file by its path below its sys.path entry: the project's own code is under
# the folder of one of its packages.
PROJECT_FOLDERS = ("shared", "gateway", "catalog", "submissions", "signatures", "notifications")


def frame_parts(frame: str) -> tuple[str, str]:
    """"handle (submissions/api.py:120)" -> ("handle", "submissions/api.py")."""
    match = re.fullmatch(r"(.*) \((.*?)(?::\d+)?\)", frame.strip())
    return match.groups() if match else (frame.strip(), "")


def top_frames(path: Path, count: int = 12) -> dict:
    """Where the samples of one collapsed-stacks file are: the functions on top of the stack
    (`Runner.run` there is C code the event loop runs: uvloop, asyncpg's protocol, httptools),
    and the project's innermost function on the stack, with the library code it called
    (SQLAlchemy runs the database side in greenlets, whose stacks hold no caller: they count as
    none)."""
    on_top, innermost, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit() or not stack:
            continue
        total += int(samples)
        frames = [frame_parts(frame) for frame in stack.split(";")]
        names = [f"{function} ({'/'.join(Path(file).parts[-2:])})" for function, file in frames]
        on_top[names[-1]] += int(samples)
        own = [name for name, (_, file) in zip(names, frames, strict=True)
               if file.split("/", 1)[0] in PROJECT_FOLDERS and not file.endswith(("__main__.py", "serve.py"))]
        innermost[own[-1] if own else "(none)"] += int(samples)

    def shares(counter: Counter) -> list[tuple[str, float]]:
        return [(name, round(100 * samples / max(total, 1), 1)) for name, samples in counter.most_common(count)]

    return {"samples": total, "self_percent": shares(on_top), "project_innermost_percent": shares(innermost)}


# --- the run ----------------------------------------------------------------------------------


def megabytes(memory: dict[str, dict[str, int]], kind: str) -> dict[str, float]:
    return {name: values[kind] / MB for name, values in memory.items()}


async def bench(deployment: Deployment, args: argparse.Namespace, stamp: str) -> dict:
    result: dict = {"flows": {}, "profiles": {}}
    timeout = aiohttp.ClientTimeout(total=60)
    # Idle connections are given up before uvicorn's 5 s keep-alive ends them: a request sent on
    # one the server is closing fails ("Can not write request body"), e.g. after a wait for mail.
    connector = aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=4.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        driver = Driver(deployment, http, args.concurrency, args.rate)
        await driver.setup()
        for flow in (flow for flow in FLOWS if flow in args.flows):
            print(f"-- {FLOWS[flow]}: {args.warmup:g} s warm-up, {args.duration:g} s measured", flush=True)
            measured = result["flows"][flow] = await measure(driver, flow, args)
            print_flow_line(measured)
        result["memory_after_load"] = deployment.memory()
        if args.profile:
            for flow in (flow for flow in FLOWS if flow in args.flows):
                print(f"-- {FLOWS[flow]}: profiled run", flush=True)
                profiles = await profile(driver, flow, args, stamp)
                result["profiles"][flow] = {name: {"file": str(path.relative_to(ROOT)), **top_frames(path)}
                                            for name, path in profiles.items()}
    return result


def print_flow_line(measured: dict) -> None:
    mail = measured.get("submit_to_mail")
    mail_text = f", submit->mail p99 {mail['p99_ms']:.0f} ms" if mail and mail["p99_ms"] is not None else ""
    print(f"  {measured['flows_per_s']:.1f} flows/s, p99 {measured['p99_ms'] or 0:.0f} ms, "
          f"{measured['system_cpu_ms_per_flow']:.1f} ms CPU per flow in the system{mail_text}, "
          f"{measured['errors']} errors, other load {measured['other_load_cores']:.2f} cores", flush=True)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


class Table:
    """Rows of figures, a column per flow; a cell is `cell(flow, its figures)`."""

    def __init__(self, flows: dict[str, dict]) -> None:
        self.flows = flows
        self.width = max([24, *(len(FLOWS[flow]) + 2 for flow in flows)])
        print(f"{'':28}" + "".join(f"{FLOWS[flow]:>{self.width}}" for flow in flows))

    def row(self, label: str, cell) -> None:
        print(f"{label:28}" + "".join(f"{cell(flow, figures):>{self.width}}" for flow, figures in self.flows.items()))

    def any(self, key: str) -> bool:
        return any(key in figures for figures in self.flows.values())


def mail_cell(flow: str, figures: dict) -> str:
    mail = figures.get("submit_to_mail")
    if mail is None:
        return ""
    if mail["p99_ms"] is None:
        return "no mail"
    return f"{mail['p50_ms']:.0f} / {mail['p99_ms']:.0f} ({verdict(mail['p99_ms'] <= MAIL_P99_TARGET_MS)})"


def system_cell(flow: str, figures: dict) -> str:
    value = figures["system_cpu_ms_per_flow"]
    return f"{value:.1f} (<= {CPU_TARGET_MS:g} {verdict(value <= CPU_TARGET_MS)})" if flow == "create+submit" else f"{value:.1f}"


def print_report(result: dict, args: argparse.Namespace) -> None:
    flows = result["flows"]
    print()
    paced = ", ".join(f"{flow if flow != '*' else 'every flow'} {rate:g}/s" for flow, rate in args.rate.items())
    print(f"{result['mode']}, {args.concurrency} flows at a time{f' started at {paced}' if paced else ''}, "
          f"{args.duration:g} s per flow, {os.cpu_count()} cores")
    table = Table(flows)
    table.row("flows/s", lambda flow, figures: f"{figures['flows_per_s']:.1f} (>= {RATE_TARGETS[flow]:g} "
                                               f"{verdict(figures['flows_per_s'] >= RATE_TARGETS[flow])})")
    table.row("flows (errors)", lambda flow, figures: f"{figures['flows']} ({figures['errors']})")
    table.row("p50 / p99 ms", lambda flow, figures: f"{figures['p50_ms'] or 0:.0f} / {figures['p99_ms'] or 0:.0f}")
    if table.any("submit_to_mail"):
        table.row("submit->mail p50 / p99 ms", mail_cell)
        table.row("mail missing / repeated", lambda flow, figures: (
            f"{figures['submit_to_mail']['missing']} / {figures['submit_to_mail']['more_than_one']}"
            if "submit_to_mail" in figures else ""))
    print("CPU ms per flow")
    cpu = [figures["cpu_ms_per_flow"] for figures in flows.values()]
    for part in (part for part in SYSTEM_PARTS if any(part in spent for spent in cpu)):
        table.row(f"  {part}", lambda flow, figures, part=part: f"{figures['cpu_ms_per_flow'].get(part, 0.0):.2f}")
    table.row("  = the system", system_cell)
    for part in ("bench client", "smtp server"):
        table.row(f"  {part}", lambda flow, figures, part=part: f"{figures['cpu_ms_per_flow'][part]:.2f}")
    table.row("  = all", lambda flow, figures: f"{figures['all_cpu_ms_per_flow']:.1f}")
    if any("postgres server" in spent for spent in cpu):
        table.row("  postgres server processes",
                  lambda flow, figures: f"{figures['cpu_ms_per_flow'].get('postgres server', 0.0):.2f}")
        print("    (WAL writer, checkpointer, ...: shared with every user of the server, in no sum)")
    table.row("other load, cores", lambda flow, figures: f"{figures['other_load_cores']:.2f}")
    if "approve" in flows:
        print(f"approve->issued polled GET /v1/track {flows['approve']['track_polls_per_flow']:.1f} times per flow "
              f"(its CPU is in the figures)"
              + ("; it ran out of submitted submissions before the end" if flows["approve"]["ran_out_of_submissions"]
                 else ""))
    idle, after = result["memory_idle"], result.get("memory_after_load")
    idle_rss = sum(megabytes(idle, "rss").values())
    print(f"memory right after start: RSS {idle_rss:.0f} MB (<= {IDLE_RSS_TARGET_MB:g} {verdict(idle_rss <= IDLE_RSS_TARGET_MB)}), "
          f"PSS {sum(megabytes(idle, 'pss').values()):.0f} MB; "
          + ", ".join(f"{name} {value:.0f}" for name, value in megabytes(idle, "rss").items()))
    if after:
        print(f"memory after the load:    RSS {sum(megabytes(after, 'rss').values()):.0f} MB, "
              f"PSS {sum(megabytes(after, 'pss').values()):.0f} MB; "
              + ", ".join(f"{name} {value:.0f}" for name, value in megabytes(after, "rss").items()))
    busiest = max((figures["other_load_cores"] for figures in flows.values()), default=0.0)
    if busiest > 0.2:
        print(f"note: other processes used up to {busiest:.2f} of the {os.cpu_count()} cores meanwhile; flows/s and "
              "latencies are low by that much, compare the CPU per flow")
    for flow, services in result["profiles"].items():
        for name in ("submissions", "notifications"):
            if name not in services:
                continue
            found = services[name]
            print(f"\nprofile {FLOWS[flow]}, {name} ({found['samples']} samples; {found['file']})")
            print("  on top of the stack:  " + "; ".join(f"{frame} {share}%" for frame, share in found["self_percent"][:8]))
            print("  innermost own code:   " + "; ".join(f"{frame} {share}%"
                                                       for frame, share in found["project_innermost_percent"][:8]))


def flow_rates(value: str) -> dict[str, float]:
    """`150` (every flow) or `create+submit=150,approve=15`."""
    rates = {}
    for part in value.split(","):
        flow, _, rate = part.rpartition("=")
        if flow and flow not in FLOWS:
            raise argparse.ArgumentTypeError(f"unknown flow {flow!r}")
        rates[flow or "*"] = float(rate)
    return rates


def replica_counts(value: str) -> list[int]:
    counts = [int(count) for count in value.split(",") if count.strip().isdigit()]
    if not counts or len(counts) != len(value.split(",")) or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"comma-separated counts of at least 1, e.g. 1,2; not {value!r}")
    return counts


def compare(results: dict[int, dict]) -> dict:
    """Per flow, each replica count's system CPU per flow against the first count's: with nginx,
    and without it (the coordination inside Simpul: balancing, locks, probes, Redis)."""
    base_count = next(iter(results))
    comparison: dict = {}
    for flow, base in results[base_count]["flows"].items():
        for count, result in results.items():
            figures = result["flows"].get(flow)
            if count == base_count or figures is None:
                continue
            without = figures.get("system_cpu_ms_per_flow_without_nginx", figures["system_cpu_ms_per_flow"])
            ratio = figures["system_cpu_ms_per_flow"] / base["system_cpu_ms_per_flow"]
            ratio_without = without / base["system_cpu_ms_per_flow"]
            comparison.setdefault(flow, {})[f"{count}/{base_count}"] = {
                "system_cpu_ratio": ratio, "system_cpu_ratio_without_nginx": ratio_without,
                "target": SCALING_CPU_RATIO_TARGET, "met_without_nginx": ratio_without <= SCALING_CPU_RATIO_TARGET,
                # CPU per flow falls as the rate rises (batches, event-loop turns): a ratio says what
                # coordination costs only between runs that carried the same load.
                "flows_per_s_ratio": figures["flows_per_s"] / base["flows_per_s"] if base["flows_per_s"] else None,
            }
    return comparison


def print_comparison(results: dict[int, dict], comparison: dict) -> None:
    """Each flow's figures for every replica count side by side, and the CPU ratios."""
    counts = list(results)
    width = 16
    print(f"\nreplicas side by side ({', '.join(str(count) for count in counts)} copies of each service)")
    for flow in results[counts[0]]["flows"]:
        columns = [results[count]["flows"].get(flow) for count in counts]
        print(f"{FLOWS[flow]:28}" + "".join(f"{f'{count} replica' + ('s' if count > 1 else ''):>{width}}"
                                            for count in counts))

        def row(label: str, cell) -> None:
            print(f"{label:28}" + "".join(f"{cell(figures) if figures else '':>{width}}" for figures in columns))

        row("  flows/s", lambda figures: f"{figures['flows_per_s']:.1f}")
        row("  p50 / p99 ms", lambda figures: f"{figures['p50_ms'] or 0:.0f} / {figures['p99_ms'] or 0:.0f}")
        row("  errors", lambda figures: str(figures["errors"]))
        row("  other load, cores", lambda figures: f"{figures['other_load_cores']:.2f}")
        print("  CPU ms per flow")
        for part in (part for part in SYSTEM_PARTS if any(figures and part in figures["cpu_ms_per_flow"]
                                                          for figures in columns)):
            row(f"    {part}", lambda figures, part=part: f"{figures['cpu_ms_per_flow'].get(part, 0.0):.2f}")
        row("    = the system", lambda figures: f"{figures['system_cpu_ms_per_flow']:.2f}")
        row("    = without nginx", lambda figures: "{:.2f}".format(
            figures.get("system_cpu_ms_per_flow_without_nginx", figures["system_cpu_ms_per_flow"])))
        for pair, ratio in comparison.get(flow, {}).items():
            print(f"  system CPU per flow {pair} replicas: {ratio['system_cpu_ratio']:.2f} with nginx, "
                  f"{ratio['system_cpu_ratio_without_nginx']:.2f} without "
                  f"(<= {SCALING_CPU_RATIO_TARGET:g} {verdict(ratio['met_without_nginx'])})")
            load = ratio["flows_per_s_ratio"]
            if load is not None and abs(load - 1) > SAME_LOAD_TOLERANCE:
                print(f"    not the same load: {pair} replicas carried {load:.2f}x the flows per second, and CPU per "
                      "flow moves with the rate; compare at one rate with --rate")


def loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per flow (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per flow (default 3)")
    parser.add_argument("--flows", default=",".join(FLOWS), type=lambda value: value.split(","),
                        help=f"which flows, comma-separated (default: {','.join(FLOWS)})")
    parser.add_argument("--concurrency", type=int, default=32, help="flows under way at once (default 32)")
    parser.add_argument("--rate", type=flow_rates, default={}, metavar="[FLOW=]FLOWS_PER_S[,...]",
                        help="start flows at this rate instead of as fast as the answers come, the same work per "
                             "second for every deployment compared (at most --concurrency under way); one rate "
                             "for all flows or per flow, e.g. create+submit=150,approve=15")
    parser.add_argument("--sqlite", action="store_true",
                        help="the embedded defaults (SQLite, events over HTTP) instead of PostgreSQL and RabbitMQ")
    parser.add_argument("--postgres", default=os.environ.get("SIMPUL_TEST_POSTGRES") or DEFAULT_POSTGRES,
                        help="a local PostgreSQL server (default SIMPUL_TEST_POSTGRES, else 127.0.0.1:5432)")
    parser.add_argument("--amqp", default=os.environ.get("SIMPUL_TEST_AMQP") or DEFAULT_AMQP,
                        help="a local RabbitMQ (default SIMPUL_TEST_AMQP, else 127.0.0.1:5672)")
    parser.add_argument("--replicas", default=[1], type=replica_counts, metavar="N[,N...]",
                        help="copies of each service, one deployment after the other (default 1; e.g. 1,2 prints "
                             "them side by side with the ratio of their CPU per flow)")
    parser.add_argument("--redis", default=os.environ.get("SIMPUL_TEST_REDIS") or DEFAULT_REDIS,
                        help="a local Redis for the gateways of replicas (default SIMPUL_TEST_REDIS, else "
                             "127.0.0.1:6379)")
    parser.add_argument("--profile", action="store_true",
                        help="after the measured flows, each once more with py-spy sampling the five services")
    parser.add_argument("--keep", action="store_true", help="keep the temporary dir (the services' logs)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for other processes to leave the CPUs idle")
    args = parser.parse_args()
    unknown = [flow for flow in args.flows if flow not in FLOWS]
    bad_rate = any(rate <= 0 for rate in args.rate.values())
    if unknown or args.duration <= 0 or args.warmup < 0 or args.concurrency < 1 or bad_rate:
        parser.error(f"--flows among {', '.join(FLOWS)}; --duration > 0, --warmup >= 0, --concurrency >= 1, "
                     "--rate > 0")
    if not args.sqlite:
        if not (loopback(args.postgres) and loopback(args.amqp)):
            parser.error("PostgreSQL and RabbitMQ must run on this machine (loopback): their CPU is read from /proc")
        if max(args.replicas) > 1 and not loopback(args.redis):
            parser.error("Redis must run on this machine (loopback): its CPU is read from /proc")
        if shutil.which("rabbitmqctl") is None:
            parser.error("rabbitmqctl is needed to add the bench's virtual host (or use --sqlite)")

    # SIGTERM / SIGHUP end the run like Ctrl-C does: through the clean-up below.
    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    if args.wait_quiet > 0:
        print(f"bench: machine load before the run {wait_for_quiet_machine(args.wait_quiet):.2f} cores", flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    mode = "SQLite, events over HTTP" if args.sqlite else "PostgreSQL, RabbitMQ"
    results: dict[int, dict] = {}
    for replicas in args.replicas:
        # A fresh deployment per replica count: databases, virtual host and Redis keys of its own.
        run_mode = mode if replicas == 1 else f"{mode}, {replicas} replicas of each service behind nginx, Redis"
        try:
            result = run_deployment(args, replicas, run_mode, stamp if replicas == 1 else f"{stamp}-{replicas}x")
        except RuntimeError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 1
        if result is None:
            return 130
        results[replicas] = result
        print_report(result, args)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"system-{stamp}.json"
    if list(results) == [1]:
        path.write_text(json.dumps(results[1], indent=2) + "\n")  # the single-deployment format
    else:
        comparison = compare(results)
        print_comparison(results, comparison)
        path.write_text(json.dumps({"replicas": {str(count): result for count, result in results.items()},
                                    "comparison": comparison}, indent=2) + "\n")
    print(f"\nfull figures: {path.relative_to(ROOT)}")
    return 1 if any(flow["errors"] for result in results.values() for flow in result["flows"].values()) else 0


def run_deployment(args: argparse.Namespace, replicas: int, mode: str, stamp: str) -> dict | None:
    """Starts the deployment with this many copies of each service, measures it and stops it;
    None when interrupted. A failure to start or run raises RuntimeError."""
    directory = Path(tempfile.mkdtemp(prefix=f"simpul-bench-system-{replicas}x-"))
    try:
        with ExitStack() as stack:
            if not args.keep:
                stack.callback(shutil.rmtree, directory, ignore_errors=True)
            deployment = Deployment(args, directory, stack, replicas)
            try:
                print(f"bench: starting {'the' if replicas == 1 else f'{replicas} copies of each of the'} five "
                      f"services ({mode}, SMTP on :{deployment.smtp.port})", flush=True)
                deployment.start()
                idle = deployment.memory()
                result = asyncio.run(bench(deployment, args, stamp))
            except BaseException:
                print(f"-- the services' logs\n{deployment.logs()}", file=sys.stderr)
                raise
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return None
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if args.keep:
            print(f"bench: logs in {directory}", file=sys.stderr)
    result.update(mode=mode, replicas=replicas, memory_idle=idle, cores=os.cpu_count(),
                  args={key: value for key, value in vars(args).items() if key not in ("postgres", "amqp", "redis")})
    return result

if __name__ == "__main__":
    sys.exit(main())
