"""Events to mail: throughput from the outbox to SMTP-accepted, and the delay from a state change
to the mail's arrival, for each transport.

    .venv/bin/python bench/notifications.py [--transports http,amqp] [--amqp amqp://guest:guest@127.0.0.1:5672/]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--rate 100] [--duration 30] [--burst 3000]

Per transport (HTTP push to the notifications service; RabbitMQ when a broker is given with
--amqp or SIMPUL_TEST_AMQP, on a virtual host of its own) and storage (SQLite files; PostgreSQL
with --postgres or SIMPUL_TEST_POSTGRES), three processes run on loopback:

- the notifications service, as `make run` starts it (tests/support/processes.py), mailing to
- an SMTP server (aiosmtpd, in this process) that notes when each message arrives, and
- a producer (this file with `produce`): an outbox table like every service's, the shared relay
  in front of it (woken by the commit hook, as in a service), staging one event per
  transaction, each mailing a different applicant.

1. Delay: the producer stages R events per second for D seconds; a state change happens at the
   commit that stages its event (the event's `occurred_at` is taken just before). Printed:
   p50 / p99 / max of mail arrival - occurred_at. Target: p99 <= 1 s at 100 events/s.
2. Throughput: B events are staged while the relay is stopped, then the relay starts; printed:
   events per second from the relay's start to the last mail accepted by the SMTP server.

Both print the CPU milliseconds per event the notifications process and the producer spent
(from /proc). Results also go to bench/out/notifications-<time>.json. `--profile` runs each phase
once more with py-spy (`--gil`: only what holds the interpreter, i.e. Python's CPU) sampling the
notifications process; collapsed stacks go to bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from measuring import OUT, ROOT, cpu_seconds, percentile, py_spy

sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from simpul.shared.relay import HttpTransport  # noqa: E402
from simpul.shared.relay_amqp import AmqpTransport  # noqa: E402
from tests.e2e.notifications.producer import Producer, submission_data  # noqa: E402
from tests.e2e.notifications.receivers import MailSink, amqp_vhost  # noqa: E402
from tests.support.databases import TestDatabases  # noqa: E402
from tests.support.processes import System  # noqa: E402

P99_TARGET = 1.0
TRACKING = re.compile(r"SPL[0-9A-F]{9}")


# -- the producer process ---------------------------------------------------------------------

async def produce(args: argparse.Namespace) -> None:
    """Stage events at a rate (or all at once, then start the relay); print timings as JSON."""
    if args.broker:
        transport = AmqpTransport(args.broker)
    else:
        transport = HttpTransport(args.notifications_url, caller="submissions", secret=args.secret)
    producer = await Producer(args.database).open()
    relay = producer.relay(transport)
    report: dict = {}
    if args.rate:
        await relay.start()
        started = time.perf_counter()
        for n in range(args.count):
            # Fixed schedule: a slow commit is not made up for by staging later ones closer together.
            await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
            await producer.stage(submission_data(email=f"w{n}@bench.id"))
    else:
        for n in range(args.count):
            await producer.stage(submission_data(email=f"w{n}@bench.id"))
        report["relay_started"] = time.time()
        await relay.start()
    while await producer.unpublished():
        await asyncio.sleep(0.05)
    report["published"] = time.time()
    await relay.stop()
    async with producer.read_sessions() as session:
        rows = (await session.execute(select(producer.table.c.occurred_at, producer.table.c.data))).all()
    report["occurred"] = {row.data["tracking_code"]: row.occurred_at.timestamp() for row in rows}
    await producer.close()
    print(json.dumps(report))


# -- the measuring side -----------------------------------------------------------------------

def run_producer(database: str, count: int, rate: float, notifications_url: str, secret: str,
                 broker: str | None) -> dict:
    # `--name=value`: a random secret may begin with a dash.
    command = [sys.executable, __file__, "produce", f"--database={database}", f"--count={count}",
               f"--rate={rate}", f"--notifications-url={notifications_url}", f"--secret={secret}"]
    if broker:
        command.append(f"--broker={broker}")
    process = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if process.returncode != 0:
        raise RuntimeError(f"producer failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def wait_for_mail(sink: MailSink, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sink.count() < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sink.count()} of {count} mails arrived")
        time.sleep(0.05)


def arrivals_by_tracking_code(sink: MailSink) -> dict[str, float]:
    first_arrival = {message_id: times[0] for message_id, times in sink.arrivals().items()}
    return {TRACKING.search(message["Subject"]).group(0): first_arrival[message["Message-ID"]]
            for message in sink.received()}


@contextmanager
def sampling(pid: int, name: str) -> Iterator[Path]:
    """py-spy records the process while the block runs (its figures are not reported: sampling
    costs the process some CPU)."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    OUT.mkdir(parents=True, exist_ok=True)
    output = OUT / f"profile-notifications-{name}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    recorder = subprocess.Popen([tool, "record", "--pid", str(pid), "--rate", "250", "--gil", "--nonblocking",
                                 "--format", "raw", "--output", str(output)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        yield output
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()


def measure(transport: str, backend: str, postgres: str | None, broker: str | None, args, workdir: Path) -> dict:
    sink = MailSink()
    sink.start()
    databases = TestDatabases(workdir)
    if backend == "postgres":
        databases.server = postgres
    env = {"SIMPUL_SMTP_HOST": "127.0.0.1", "SIMPUL_SMTP_PORT": str(sink.port), "SIMPUL_LOG_LEVEL": "warning"}
    if broker:
        env["SIMPUL_EVENT_BROKER"] = broker
    system = System(workdir, databases, services=("notifications",), extra_env=env)
    result: dict = {"transport": transport, "backend": backend}
    try:
        system.start()
        notifications = system["notifications"]
        pid = notifications.process.pid

        def one_run(count: int, rate: float) -> tuple[dict, dict[str, float], float, float]:
            sink.clear()
            database = asyncio.run(databases.url(f"producer-{count}-{int(rate)}"))
            service_cpu, producer_cpu = cpu_seconds(pid), children_cpu()
            report = run_producer(database, count, rate, notifications.url, system.internal_secret, broker)
            producer_cpu = children_cpu() - producer_cpu
            wait_for_mail(sink, count, timeout=120)
            service_cpu = cpu_seconds(pid) - service_cpu
            time.sleep(0.5)  # room for a duplicate, which must not come
            return report, arrivals_by_tracking_code(sink), service_cpu, producer_cpu

        count = int(args.rate * args.duration)
        report, arrivals, service_cpu, producer_cpu = one_run(count, args.rate)
        delays = [arrivals[code] - occurred for code, occurred in report["occurred"].items()]
        assert len(delays) == count and len(sink.received()) == count, "a mail is missing or came twice"
        result["delay"] = {
            "events": count, "rate": args.rate, "p50_ms": percentile(delays, 0.5) * 1000,
            "p99_ms": percentile(delays, 0.99) * 1000, "max_ms": max(delays) * 1000,
            "mean_ms": statistics.fmean(delays) * 1000,
            "service_cpu_ms_per_event": service_cpu / count * 1000,
            "producer_cpu_ms_per_event": producer_cpu / count * 1000,
        }
        report, arrivals, service_cpu, producer_cpu = one_run(args.burst, 0)
        last = max(arrivals.values())
        result["throughput"] = {
            "events": args.burst, "events_per_s": args.burst / (last - report["relay_started"]),
            "relay_events_per_s": args.burst / (report["published"] - report["relay_started"]),
            "service_cpu_ms_per_event": service_cpu / args.burst * 1000,
            "producer_cpu_ms_per_event": producer_cpu / args.burst * 1000,
        }
        if args.profile:
            for phase, run_count, run_rate in (("delay", count, args.rate), ("throughput", args.burst, 0)):
                with sampling(pid, f"{transport}-{backend}-{phase}") as output:
                    one_run(run_count, run_rate)
                result.setdefault("profiles", {})[phase] = str(output.relative_to(ROOT))
    finally:
        system.stop()
        sink.stop()
        asyncio.run(databases.drop_all())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    producer = sub.add_parser("produce")
    producer.add_argument("--database", required=True)
    producer.add_argument("--count", type=int, required=True)
    producer.add_argument("--rate", type=float, required=True)
    producer.add_argument("--notifications-url", required=True)
    producer.add_argument("--secret", required=True)
    producer.add_argument("--broker")
    parser.add_argument("--transports", default="http,amqp")
    parser.add_argument("--amqp", default=os.environ.get("SIMPUL_TEST_AMQP"))
    parser.add_argument("--postgres", default=os.environ.get("SIMPUL_TEST_POSTGRES"))
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--profile", action="store_true",
                        help="one more run of each phase with py-spy sampling the notifications process")
    args = parser.parse_args()
    if args.command == "produce":
        asyncio.run(produce(args))
        return

    transports = [name for name in args.transports.split(",") if name != "amqp" or args.amqp]
    backends = ["sqlite"] + (["postgres"] if args.postgres else [])
    results = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    for backend in backends:
        for transport in transports:
            with ExitStack() as stack:
                broker = stack.enter_context(amqp_vhost(args.amqp))[0] if transport == "amqp" else None
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-notify-")))
                print(f"-- {transport} / {backend} ...", flush=True)
                results.append(measure(transport, backend, args.postgres, broker, args, workdir))

    print()
    print(f"{'transport':<10}{'storage':<10}{'rate/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'burst ev/s':>12}{'svc CPU ms/ev':>15}{'producer CPU ms/ev':>20}")
    for result in results:
        delay, throughput = result["delay"], result["throughput"]
        print(f"{result['transport']:<10}{result['backend']:<10}{delay['rate']:>8.0f}{delay['p50_ms']:>9.1f}"
              f"{delay['p99_ms']:>9.1f}{delay['max_ms']:>9.1f}{throughput['events_per_s']:>12.0f}"
              f"{throughput['service_cpu_ms_per_event']:>15.2f}{throughput['producer_cpu_ms_per_event']:>20.2f}")
    missed = [r for r in results if r["delay"]["p99_ms"] > P99_TARGET * 1000]
    print(f"\ntarget p99 <= {P99_TARGET * 1000:.0f} ms at {args.rate:.0f} events/s: "
          + ("met" if not missed else "MISSED for " + ", ".join(f"{r['transport']}/{r['backend']}" for r in missed)))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"notifications-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k not in ("amqp", "postgres")},
                                "results": results}, indent=2))
    print(f"full figures: {path.relative_to(ROOT)}")
    for result in results:
        for phase, profile in result.get("profiles", {}).items():
            print(f"profile of notifications, {result['transport']} / {result['backend']}, {phase}: {profile}")


if __name__ == "__main__":
    main()
