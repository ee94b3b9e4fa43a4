"""The csc signing backend against the unit seal: documents per second and latency through the
API, with certomancer-csc-dummy (tests/support/csc.py) as the remote signing service.

    .venv/bin/python bench/csc_signing.py [--documents 60] [--concurrency 4]

Starts `python -m simpul.signatures` twice as a real process (SQLite in a temporary data dir,
workers = cores): once with the seal (B-LT, development PKI) and once with
SIMPUL_SIGNATURES_SIGNING_BACKEND=csc (B-T, each signature a credentials/authorize and a
signatures/signHash round trip to the CSC server on loopback; the timestamp from the service's
own TSA in both). What the remote backend costs is the difference; a real signing service adds
its network distance per round trip. Results also go to bench/out/csc-signing-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from measuring import OUT, ROOT
from signing import EventSink, Service, issue_body, server_cpu_seconds

from simpul.shared.identity import ASSERTION_HEADER

sys.path.insert(0, str(ROOT))
from tests.support.csc import CREDENTIAL_TEMPLATE, CscServer, Official  # noqa: E402

OFFICIAL = Official("198703152010121001", "Budi Santoso, S.H.")


async def measure(service: Service, documents: int, concurrency: int, official: dict | None) -> dict:
    run = secrets.token_hex(4)
    counter = iter(range(10**9))
    latencies: list[float] = []

    async def worker(session: aiohttp.ClientSession, count: int) -> None:
        for _ in range(count):
            body = issue_body(next(counter), run)
            if official:
                body["official"] = official
            started = time.perf_counter()
            async with session.post(f"{service.url}/internal/documents", json=body,
                                    headers={ASSERTION_HEADER: service.token()}) as response:
                await response.read()
                if response.status != 201:
                    raise RuntimeError(f"issue answered {response.status}")
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(worker(session, 2) for _ in range(concurrency)))  # workers started
        latencies.clear()
        cpu = server_cpu_seconds(service.process.pid)
        started = time.perf_counter()
        per_worker = documents // concurrency
        await asyncio.gather(*(worker(session, per_worker) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = server_cpu_seconds(service.process.pid) - cpu
    done = per_worker * concurrency
    latencies.sort()
    return {"documents": done, "per_second": done / elapsed, "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p90_ms": latencies[int(len(latencies) * 0.9) - 1] * 1000, "server_cpu_ms_per_document": cpu / done * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    official = {"nip": OFFICIAL.nip, "name": OFFICIAL.name, "position": "Kepala Biro Pemerintahan"}
    results = {}
    with tempfile.TemporaryDirectory(prefix="simpul-bench-csc-") as directory:
        root = Path(directory)
        csc = CscServer.start(root / "csc-server", [OFFICIAL])
        sink = EventSink()
        try:
            for backend, settings in (("seal", {}), ("csc", {"SIMPUL_SIGNATURES_SIGNING_BACKEND": "csc",
                                                             "SIMPUL_SIGNATURES_CSC_URL": csc.url,
                                                             "SIMPUL_SIGNATURES_CSC_CREDENTIAL_ID": CREDENTIAL_TEMPLATE})):
                (root / backend).mkdir()
                service = Service(root / backend, sink.url, settings)
                try:
                    service.wait_ready()
                    results[backend] = asyncio.run(measure(service, args.documents, args.concurrency,
                                                           official if backend == "csc" else None))
                finally:
                    service.stop()
        finally:
            sink.stop()
            csc.stop()
    print(f"cores: {os.cpu_count()}, concurrency {args.concurrency}")
    for backend, result in results.items():
        print(f"{backend:5s} {result['per_second']:6.1f} documents/s  p50 {result['p50_ms']:.0f} ms, "
              f"p90 {result['p90_ms']:.0f} ms, service CPU {result['server_cpu_ms_per_document']:.1f} ms/doc "
              f"({result['documents']} documents)")
    OUT.mkdir(parents=True, exist_ok=True)
    result_file = OUT / f"csc-signing-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    result_file.write_text(json.dumps({"results": results, "cores": os.cpu_count(), "concurrency": args.concurrency},
                                      indent=2))
    print(f"results: {result_file.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
