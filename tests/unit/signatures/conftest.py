"""A complete offline PKI (root, issuing CA, unit signer, TSA) and a real RFC 3161 server on a
loopback port, as pyHanko's own test suite does it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509

from simpul.signatures import pki
from simpul.signatures.document import DocumentContent, flatten_fields
from simpul.signatures.jobs import SignerMaterial, TsaTarget, ValidationMaterial
from simpul.signatures.tsa import CONTENT_TYPE, REPLY_CONTENT_TYPE, TimestampAuthority

PUBLIC_URL = "https://simpul.example.go.id"
DOCUMENT_ID = "6f1c8a52-3d0e-4b7a-9c41-0a2b3c4d5e6f"


@dataclass
class TestPki:
    root: x509.Certificate
    issuing: x509.Certificate
    issuing_key: object
    signer: x509.Certificate
    signer_key: object
    tsa: x509.Certificate
    tsa_key: object
    crl: x509.CertificateRevocationList

    def material(self) -> SignerMaterial:
        return SignerMaterial(id=pki.fingerprint(self.signer), name=pki.common_name(self.signer),
                              private_key=pki.plain_pkcs8(self.signer_key), certificate=pki.der(self.signer),
                              chain=(pki.der(self.issuing), pki.der(self.root)))

    def validation(self) -> ValidationMaterial:
        return ValidationMaterial(
            certificates=(pki.der(self.signer), pki.der(self.issuing), pki.der(self.root), pki.der(self.tsa)),
            crls=(pki.crl_der(self.crl),),
        )


def make_pki(now: datetime | None = None) -> TestPki:
    now = now or datetime.now(UTC)
    urls = pki.urls_for(PUBLIC_URL)
    root_key, root = pki.make_root(now)
    issuing_key, issuing = pki.make_issuing_ca(root_key, root, now)
    signer_key, signer = pki.make_unit_signer(issuing_key, issuing, "KDN-PFK", urls, now)
    tsa_key, tsa = pki.make_tsa(issuing_key, issuing, urls, now)
    crl = pki.make_crl(issuing_key, issuing, 1, [], now, timedelta(days=7))
    return TestPki(root, issuing, issuing_key, signer, signer_key, tsa, tsa_key, crl)


@pytest.fixture(scope="session")
def test_pki() -> TestPki:
    return make_pki()


@pytest.fixture(scope="session")
def other_pki() -> TestPki:
    """A second, unrelated PKI: what a forger would sign with."""
    return make_pki()


@pytest.fixture(scope="session")
def tsa_url(test_pki) -> Iterator[str]:
    authority = TimestampAuthority(pki.der(test_pki.tsa), test_pki.tsa_key, chain=(pki.der(test_pki.issuing),))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.headers.get("content-type") != CONTENT_TYPE:
                self.send_response(415)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            answer = authority.respond(body)
            self.send_response(200)
            self.send_header("content-type", REPLY_CONTENT_TYPE)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/tsa"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tsa(tsa_url) -> TsaTarget:
    return TsaTarget(tsa_url)


def content(**overrides) -> DocumentContent:
    values = dict(
        document_id=DOCUMENT_ID,
        number="000042/KDN-PFK/IZIN-LN-KDH/2026",
        title="Surat Izin Perjalanan ke Luar Negeri",
        description="Surat izin Menteri Dalam Negeri bagi kepala daerah yang bepergian ke luar negeri.",
        validity="Berlaku untuk jadwal perjalanan yang tercantum",
        service_name="Izin Perjalanan ke Luar Negeri bagi Kepala Daerah",
        service_code="IZIN-LN-KDH",
        service_version="3",
        unit="KDN-PFK",
        tracking_code="SPL-7K3M-Q9XZ",
        applicant_name="Pemerintah Provinsi DKI Jakarta",
        applicant_agency="Biro Pemerintahan",
        fields=tuple(flatten_fields({"nama": "Dr. Siti Nurhaliza Đặng", "negara_tujuan": "Jepang",
                                     "tanggal_berangkat": "2026-12-01", "jumlah_peserta": 12500})),
        note="Harap melapor sepulang perjalanan.",
        issued_at=datetime(2026, 11, 23, 3, 30, tzinfo=UTC),
        signer_name="Simpul KDN-PFK",
        verify_url=f"{PUBLIC_URL}/v1/verify/{DOCUMENT_ID}",
    )
    values.update(overrides)
    return DocumentContent(**values)


@pytest.fixture(scope="session")
def make_content():
    """`make_content(**overrides)`: the content of a sample document."""
    return content
