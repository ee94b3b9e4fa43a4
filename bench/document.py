"""Time and size of one issued document: render, and render + sign (PAdES B-B, no timestamp, so
no network in the figure), in this process on one core, with the sample content of
bench/signing.py. For comparing renderers: run it on two checkouts of the code.

    .venv/bin/python bench/document.py [--documents 60]

Prints the CPU per document, the wall-clock median and 90th percentile in milliseconds, and the
sizes in bytes; the results
also go to bench/out/document-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime

from measuring import OUT
from signing import content, own_pki

from simpul.signatures.document import render
from simpul.signatures.jobs import SignJob
from simpul.signatures.signing import sign_job

VERIFY_BASE = "https://simpul.example.go.id"


def timed(function, count: int) -> tuple[dict[str, float], object]:
    """Wall-clock median and p90, and the CPU per call (what a shared machine distorts least)."""
    result = function()  # the first call loads fonts and modules: not counted
    times = []
    cpu = time.process_time()
    for _ in range(count):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu) / count * 1000
    ordered = sorted(times)
    return {"median_ms": round(statistics.median(ordered), 1), "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 1),
            "cpu_ms": round(cpu_ms, 1)}, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=60)
    arguments = parser.parse_args()
    material, *_ = own_pki(VERIFY_BASE)
    sample = content(1, VERIFY_BASE)
    render_times, rendered = timed(lambda: render(sample), arguments.documents)
    sign_times, signed = timed(lambda: sign_job(SignJob(sample, material, None, None)), arguments.documents)
    results = {
        "render": render_times, "render_and_sign_b_b": sign_times,
        "rendered_bytes": len(rendered.pdf), "signed_bytes": len(signed.pdf), "documents": arguments.documents,
    }
    for name, label, size in (("render", "render           ", "rendered_bytes"),
                              ("render_and_sign_b_b", "render + sign B-B", "signed_bytes")):
        figures = results[name]
        print(f"{label}  CPU {figures['cpu_ms']:6.1f} ms  median {figures['median_ms']:6.1f} ms"
              f"  p90 {figures['p90_ms']:6.1f} ms  {results[size]} bytes")
    OUT.mkdir(exist_ok=True)
    (OUT / f"document-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
