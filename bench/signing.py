"""Signed documents per second: through the API, through the service's signing code, and with
pyHanko's default SimpleSigner on the same PDF, in one run.

    .venv/bin/python bench/signing.py [--documents 300] [--concurrency 8] [--wait-quiet 120]

1. api      Starts `python -m simpul.signatures` as a real process (SQLite in a temporary data
            dir, its development PKI, workers = cores, its outbox relayed to a stand-in
            notifications endpoint in this process) and POSTs /internal/documents with a
            service token, `--concurrency` requests in flight, each a new submission: render,
            PAdES B-LT with a timestamp from the service's own TSA over HTTP, store, commit.
2. direct   In this process, on one core: the service's `sign_job` (render + sign, B-LT, the
            timestamp from the running service's TSA) and `sign_rendered` on a pre-rendered PDF
            (sign only), both B-LT and B-B.
3. default  pyHanko's documented path, `signers.sign_pdf(...)` with `SimpleSigner` (which
            re-reads its key and signs twice to size the signature), B-B, on the same
            pre-rendered PDF with the same RSA-2048 key.

Ratios printed: sign-only B-B ours / default (like for like), full B-LT ours / default, and
the API rate against the 40 documents/s target. The machine may be shared: the CPU other
processes used during the API phase is shown, and so is the rate the service's measured CPU per
document allows on all cores. Results also go to bench/out/signing-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from measuring import OUT, ROOT, group_cpu_seconds, machine_busy_seconds, wait_for_quiet_machine

from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from simpul.signatures import pki
from simpul.signatures.document import DocumentContent, flatten_fields, render
from simpul.signatures.jobs import SignerMaterial, SignJob, TsaTarget, ValidationMaterial
from simpul.signatures.signing import sign_job, sign_rendered

API_TARGET = 40.0
RATIO_TARGET = 5.0

DATA = {
    "nama": "Dr. Ir. Siti Nurhaliza, M.Si.",
    "jabatan": "wakil_gubernur",
    "kode_daerah": "31",
    "negara_tujuan": "Jepang",
    "tanggal_berangkat": "2026-12-01",
    "tanggal_kembali": "2026-12-07",
    "jenis_perjalanan": "kerja_sama_daerah",
    "uraian_kegiatan": "Menghadiri forum kerja sama antarkota dan penandatanganan nota kesepahaman.",
    "sumber_biaya": "apbd",
    "kontak": {"nama": "Budi Santoso", "telepon": "+62 812 3456 7890"},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_cpu_seconds(pid: int) -> float:
    """CPU of the service and its signing workers (its process group: started in a session of
    its own)."""
    return group_cpu_seconds([pid])[pid]


class EventSink:
    """Stands in for the notifications service: takes the relay's event batches, so the
    service's outbox is published as in a real deployment."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Service:
    def __init__(self, directory: Path, events_url: str, settings: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.secret = secrets.token_urlsafe(32)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
        env.update({
            "SIMPUL_DATA_DIR": str(directory),
            "SIMPUL_SIGNATURES_PORT": str(self.port),
            "SIMPUL_SIGNATURES_URL": self.url,
            "SIMPUL_INTERNAL_SECRET": self.secret,
            "SIMPUL_IDENTITY_JWKS": '{"keys": []}',
            "SIMPUL_NOTIFICATIONS_URL": events_url,
            "SIMPUL_LOG_LEVEL": "warning",
            **(settings or {}),
        })
        self.log = open(directory / "signatures.log", "ab")  # noqa: SIM115 - the child writes to it
        self.process = subprocess.Popen([sys.executable, "-m", "simpul.signatures"], env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the service did not become ready")

    def token(self, caller: str = "submissions") -> str:
        return mint_service_token(self.secret, caller, "signatures")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


def issue_body(index: int, run: str) -> dict:
    return {
        "submission_id": f"bench-{run}-{index}",
        "tracking_code": f"SPL-{index:08d}",
        "service_code": "IZIN-LN-KDH",
        "service_version": 3,
        "service_name": "Izin Perjalanan ke Luar Negeri bagi Kepala Daerah dan Wakil Kepala Daerah",
        "output": {"name": "Surat Izin Perjalanan ke Luar Negeri",
                   "description": "Surat izin Menteri Dalam Negeri bagi kepala daerah yang bepergian ke luar negeri."},
        "unit": f"KDN-PFK{index % 3}",
        "tenant": "31",
        "applicant": {"name": "Pemerintah Provinsi DKI Jakarta", "email": "biro@jakarta.go.id"},
        "data": DATA,
        "approved_at": datetime.now(UTC).isoformat(),
        "approved_by": "officer-bench",
    }


async def api_phase(service: Service, documents: int, concurrency: int, warmup: int) -> dict:
    run = secrets.token_hex(4)
    counter = iter(range(10**9))
    latencies: list[float] = []

    async def one(session: aiohttp.ClientSession) -> None:
        index = next(counter)
        started = time.perf_counter()
        async with session.post(f"{service.url}/internal/documents", json=issue_body(index, run),
                                headers={ASSERTION_HEADER: service.token()}) as response:
            await response.read()
            if response.status != 201:
                raise RuntimeError(f"issue answered {response.status}")
        latencies.append(time.perf_counter() - started)

    async def worker(session: aiohttp.ClientSession, count: int) -> None:
        for _ in range(count):
            await one(session)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(worker(session, warmup // concurrency + 1) for _ in range(concurrency)))
        latencies.clear()
        server_cpu, machine, bench_cpu = server_cpu_seconds(service.process.pid), machine_busy_seconds(), time.process_time()
        started = time.perf_counter()
        per_worker = documents // concurrency
        await asyncio.gather(*(worker(session, per_worker) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        server_cpu = server_cpu_seconds(service.process.pid) - server_cpu
        bench_cpu = time.process_time() - bench_cpu
        machine = machine_busy_seconds() - machine
    done = per_worker * concurrency
    latencies.sort()
    return {
        "documents": done,
        "seconds": elapsed,
        "per_second": done / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "server_cpu_ms_per_document": server_cpu / done * 1000,
        "other_processes_cores": max(0.0, (machine - server_cpu - bench_cpu) / elapsed),
    }


def own_pki(public_url: str):
    now = datetime.now(UTC)
    urls = pki.urls_for(public_url)
    root_key, root = pki.make_root(now)
    issuing_key, issuing = pki.make_issuing_ca(root_key, root, now)
    key, certificate = pki.make_unit_signer(issuing_key, issuing, "KDN-PFK", urls, now)
    tsa_key, tsa = pki.make_tsa(issuing_key, issuing, urls, now)
    crl = pki.make_crl(issuing_key, issuing, 1, [], now, timedelta(days=7))
    material = SignerMaterial(id="bench", name=pki.common_name(certificate), private_key=pki.plain_pkcs8(key),
                              certificate=pki.der(certificate), chain=(pki.der(issuing), pki.der(root)))
    validation = ValidationMaterial(certificates=(pki.der(certificate), pki.der(issuing), pki.der(root), pki.der(tsa)),
                                    crls=(pki.crl_der(crl),))
    return material, validation, key, certificate, (issuing, root)


def content(number: int, verify_base: str) -> DocumentContent:
    document_id = f"00000000-0000-4000-8000-{number:012d}"
    return DocumentContent(
        document_id=document_id, number=f"{number:06d}/KDN-PFK/IZIN-LN-KDH/2026",
        title="Surat Izin Perjalanan ke Luar Negeri", description="Surat izin Menteri Dalam Negeri.",
        validity=None, service_name="Izin Perjalanan ke Luar Negeri", service_code="IZIN-LN-KDH",
        service_version="3", unit="KDN-PFK", tracking_code=f"SPL-{number:08d}",
        applicant_name="Pemerintah Provinsi DKI Jakarta", applicant_agency=None,
        fields=tuple(flatten_fields(DATA)), note=None,
        issued_at=datetime.now(UTC), signer_name="Simpul KDN-PFK", verify_url=f"{verify_base}/v1/verify/{document_id}",
    )


def rate(function, count: int) -> float:
    function()
    started = time.perf_counter()
    for _ in range(count):
        function()
    return count / (time.perf_counter() - started)


def direct_phase(service: Service, documents: int) -> dict:
    material, validation, key, certificate, chain = own_pki(service.url)

    def tsa() -> TsaTarget:
        return TsaTarget(f"{service.url}/internal/tsa", ((ASSERTION_HEADER, service.token("signatures")),))

    rendered = render(content(1, service.url))
    numbers = iter(range(2, 10**9))
    results = {
        "sign_job_b_lt": rate(lambda: sign_job(SignJob(content(next(numbers), service.url), material, tsa(), validation)),
                              documents),
        "sign_only_b_lt": rate(lambda: sign_rendered(rendered, SignJob(content(1, service.url), material, tsa(), validation)),
                               documents),
        "sign_only_b_b": rate(lambda: sign_rendered(rendered, SignJob(content(1, service.url), material, None, None)),
                              documents),
    }

    key_info = asn1_keys.PrivateKeyInfo.load(pki.plain_pkcs8(key))
    simple = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(pki.der(certificate)),
        signing_key=key_info,
        cert_registry=SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(pki.der(item)) for item in chain]),
    )

    def default_path() -> None:
        writer = IncrementalPdfFileWriter(io.BytesIO(rendered.pdf))
        signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name="Signature1"), signer=simple)

    results["default_simple_signer_b_b"] = rate(default_path, max(20, documents // 4))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=300, help="documents per measured phase")
    parser.add_argument("--concurrency", type=int, default=8, help="API requests in flight")
    parser.add_argument("--warmup", type=int, default=24)
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for other processes to leave the CPUs idle")
    args = parser.parse_args()

    if args.wait_quiet > 0:
        print(f"bench: machine load before the run {wait_for_quiet_machine(args.wait_quiet):.2f} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="simpul-bench-signing-") as directory:
        sink = EventSink()
        service = Service(Path(directory), sink.url)
        try:
            service.wait_ready()
            api = asyncio.run(api_phase(service, args.documents, args.concurrency, args.warmup))
            direct = direct_phase(service, max(50, args.documents // 3))
        finally:
            service.stop()
            sink.stop()

    default = direct["default_simple_signer_b_b"]
    ratios = {
        "sign_only_b_b_vs_default": direct["sign_only_b_b"] / default,
        "sign_only_b_lt_vs_default": direct["sign_only_b_lt"] / default,
        "sign_job_b_lt_vs_default": direct["sign_job_b_lt"] / default,
        "api_vs_default": api["per_second"] / default,
    }
    api["capacity_per_second"] = (os.cpu_count() or 1) * 1000 / api["server_cpu_ms_per_document"]
    print(f"cores: {os.cpu_count()}")
    print(f"api      {api['per_second']:7.1f} documents/s  (B-LT, render + sign + store + commit; "
          f"p50 {api['p50_ms']:.0f} ms, p99 {api['p99_ms']:.0f} ms, server CPU {api['server_cpu_ms_per_document']:.1f} ms/doc, "
          f"other processes {api['other_processes_cores']:.2f} cores)  target >= {API_TARGET:.0f}")
    capacity = api["capacity_per_second"]
    print(f"api      {capacity:7.1f} documents/s  what {os.cpu_count()} cores carry at the measured CPU per document "
          f"(the estimate that holds when other processes use none)")
    print(f"direct   {direct['sign_job_b_lt']:7.1f} documents/s  sign_job: render + B-LT sign, one core")
    print(f"direct   {direct['sign_only_b_lt']:7.1f} documents/s  sign only, B-LT (timestamp over HTTP), one core")
    print(f"direct   {direct['sign_only_b_b']:7.1f} documents/s  sign only, B-B, one core")
    print(f"default  {default:7.1f} documents/s  pyHanko SimpleSigner + sign_pdf, B-B, same PDF and key, one core")
    for name, value in ratios.items():
        print(f"ratio    {name:28s} {value:5.1f}x")
    print(f"targets: API {'met' if api['per_second'] >= API_TARGET else 'MISSED'}, "
          f"sign-only B-B vs default {'met' if ratios['sign_only_b_b_vs_default'] >= RATIO_TARGET else 'MISSED'}")
    OUT.mkdir(parents=True, exist_ok=True)
    result_file = OUT / f"signing-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    result_file.write_text(json.dumps({"api": api, "direct": direct, "ratios": ratios, "cores": os.cpu_count()}, indent=2))
    print(f"results: {result_file.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
