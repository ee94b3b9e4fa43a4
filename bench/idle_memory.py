"""The five services' memory when idle, as `make run` starts them: the embedded default (SQLite
files, events over HTTP, the demo catalogue published), nothing asked of them yet.

    .venv/bin/python bench/idle_memory.py [--settle SECONDS] [--sign]

Starts `python -m simpul.<service>` for each service as the Procfile does (tests/support/
processes.py), on free loopback ports and in a temporary data directory, waits until every one
answers /readyz and then SETTLE seconds more (start-up work such as the demo seeding ends), and
prints RSS and PSS per service: a service and every process it started (its process group),
against the target of 500 MB RSS for the five together. `--sign` then issues one document
through signatures' internal API and prints how long the first signing took (the signing
workers start on demand) and the memory after it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from measuring import ROOT, group_memory_bytes

sys.path.insert(0, str(ROOT))

from tests.support.databases import TestDatabases  # noqa: E402
from simpul.shared.identity import ASSERTION_HEADER, mint_service_token  # noqa: E402
from tests.support.processes import System  # noqa: E402

IDLE_RSS_TARGET_MB = 500.0
MB = 1024 * 1024


def memory(system: System) -> dict[str, dict[str, int]]:
    return {name: group_memory_bytes(process.process.pid) for name, process in system.processes.items()}


def processes(system: System) -> None:
    """Every process of every service with its RSS / PSS: which of a service's processes holds what."""
    for name, service in system.processes.items():
        group = service.process.pid
        for entry in sorted(Path("/proc").glob("[0-9]*"), key=lambda path: int(path.name)):
            try:
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[2]) != group:
                    continue
                sizes = dict(line.split(":", 1) for line in (entry / "smaps_rollup").read_text().splitlines()[1:])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError):
                continue
            rss, pss = (int(sizes[key].split()[0]) / 1024 for key in ("Rss", "Pss"))
            print(f"  {name:13} {entry.name:>7} RSS {rss:5.0f} PSS {pss:5.0f}  {command[:90]}")


def report(label: str, figures: dict[str, dict[str, int]]) -> float:
    rss = sum(values["rss"] for values in figures.values()) / MB
    pss = sum(values["pss"] for values in figures.values()) / MB
    per_service = ", ".join(f"{name} {values['rss'] / MB:.0f}/{values['pss'] / MB:.0f}"
                            for name, values in figures.items())
    print(f"{label}: RSS {rss:.0f} MB, PSS {pss:.0f} MB (RSS/PSS per service: {per_service})")
    return rss


def sign_one(system: System, number: int) -> float:
    """Seconds for one issue request to signatures, as submissions' issuer sends it."""
    service = system["signatures"]
    headers = {ASSERTION_HEADER: mint_service_token(system.internal_secret, "submissions", "signatures")}
    body = {
        "submission_id": str(uuid.uuid4()),
        "tracking_code": f"SPL-IDLE-{number:04d}",
        "service_code": "IDLE-MEMORY",
        "service_version": 1,
        "service_name": "Surat Keterangan",
        "output": {"name": "Surat Keterangan"},
        "unit": "KDN-PFK",
        "tenant": "31",
        "applicant": {"name": "Budi Santoso"},
        "data": {"keperluan": "pengukuran memori"},
        "approved_at": datetime.now(UTC).isoformat(),
    }
    started = time.perf_counter()
    answer = httpx.post(f"{service.url}/internal/documents", json=body, headers=headers, timeout=120.0)
    elapsed = time.perf_counter() - started
    if answer.status_code >= 300:
        raise RuntimeError(f"signing answered {answer.status_code}: {answer.text[:500]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait after every service is ready")
    parser.add_argument("--sign", action="store_true", help="then sign one document and measure again")
    parser.add_argument("--processes", action="store_true", help="also list every process with its memory")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="simpul-bench-idle-"))
    system = System(directory, TestDatabases(directory), extra_env={"SIMPUL_LOG_LEVEL": "info"})
    try:
        system.start()
        time.sleep(args.settle)
        rss = report("idle after start", memory(system))
        if args.processes:
            processes(system)
        print(f"target: <= {IDLE_RSS_TARGET_MB:g} MB RSS together: {'met' if rss <= IDLE_RSS_TARGET_MB else 'MISSED'}")
        if args.sign:
            first, second = sign_one(system, 1), sign_one(system, 2)
            print(f"first signing: {first * 1000:.0f} ms; second: {second * 1000:.0f} ms")
            report("after two signings", memory(system))
            if args.processes:
                processes(system)
    except RuntimeError as error:
        print(f"bench: {error}\n{system.logs()}", file=sys.stderr)
        return 1
    finally:
        system.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
