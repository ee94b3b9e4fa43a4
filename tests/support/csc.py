"""A Cloud Signature Consortium API server on loopback: certomancer-csc-dummy (a CSC v1 server
made for integration tests) as a child process, serving a Certomancer PKI generated here: a test
root, an intermediate CA and one signing certificate per official, whose subject names the
official's NIP, and a timestamp authority under the same root (served over RFC 3161 by
`TimestampServer`), so a verifier needs that one root only. Its credential ids are
`<architecture>/<certificate label>`."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simpul.signatures import pki
from simpul.signatures.tsa import REPLY_CONTENT_TYPE, TimestampAuthority
from tests.support.processes import free_port

ARCHITECTURE = "simpul-test"
# How the signatures service names an official's credential at this server.
CREDENTIAL_TEMPLATE = ARCHITECTURE + "/official-{nip}"
VALIDITY = {"valid-from": "2020-01-01T00:00:00+0000", "valid-to": "2100-01-01T00:00:00+0000"}


@dataclass(frozen=True)
class Official:
    nip: str
    name: str
    # The NIP the certificate names, when a test wants it to differ from the credential's label.
    certificate_nip: str | None = None
    # False: the server holds only the public key, and reports the credential disabled.
    holds_key: bool = True

    @property
    def label(self) -> str:
        return f"official-{self.nip}"


def write_certomancer_config(directory: Path, officials: list[Official]) -> Path:
    """Keys (RSA-2048, PEM) and the Certomancer YAML for root -> intermediate -> officials. YAML
    is a superset of JSON, so the config is written as JSON."""
    keys_dir = directory / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    labels = ["root", "interm", "tsa", *(official.label for official in officials)]
    public_only = {official.label for official in officials if not official.holds_key}
    for label in labels:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if label in public_only:
            pem_bytes = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        else:
            pem_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        (keys_dir / f"{label}.key.pem").write_bytes(pem_bytes)
    entities: dict[str, dict[str, str]] = {
        "root": {"common-name": "Simpul CSC Test Root"},
        "interm": {"common-name": "Simpul CSC Test Intermediate"},
        "tsa": {"common-name": "Simpul CSC Test Timestamp Authority"},
    }
    certs: dict[str, dict] = {
        "root": {"subject": "root", "issuer": "root", "validity": VALIDITY, "profiles": ["simple-ca"]},
        "interm": {"issuer": "root", "validity": VALIDITY,
                   "profiles": [{"id": "simple-ca", "params": {"max-path-len": 0}}]},
        "tsa": {"issuer": "interm", "validity": VALIDITY,
                "extensions": [{"id": "key_usage", "critical": True,
                                "smart-value": {"schema": "key-usage", "params": ["digital_signature"]}},
                               {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]}]},
    }
    for official in officials:
        entities[official.label] = {"common-name": official.name,
                                    "serial-number": official.certificate_nip or official.nip}
        certs[official.label] = {
            "issuer": "interm",
            "validity": VALIDITY,
            "extensions": [{"id": "key_usage", "critical": True,
                            "smart-value": {"schema": "key-usage", "params": ["digital_signature", "non_repudiation"]}}],
        }
    config = {
        "external-url-prefix": "http://csc-test.invalid",
        "keysets": {ARCHITECTURE: {"path-prefix": str(keys_dir),
                                   "keys": {label: {"path": f"{label}.key.pem", "public-only": label in public_only}
                                            for label in labels}}},
        "pki-architectures": {ARCHITECTURE: {
            "keyset": ARCHITECTURE,
            "entity-defaults": {"country-name": "ID", "organization-name": "Kementerian Dalam Negeri"},
            "entities": entities,
            "certs": certs,
        }},
    }
    path = directory / "certomancer.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


@dataclass
class CscServer:
    url: str
    process: subprocess.Popen
    config: Path

    @classmethod
    def start(cls, directory: Path, officials: list[Official], *, hash_pinning: bool = True,
              port: int | None = None) -> CscServer:
        config = write_certomancer_config(directory, officials)
        port = port or free_port()
        log_path = directory / "csc-dummy.log"
        with open(log_path, "ab") as log:
            # The package's own entry point: config, port, SCAL (2 = signatures bound to hashes).
            process = subprocess.Popen(
                [sys.executable, "-m", "csc_dummy", str(config), str(port), "2" if hash_pinning else "1"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        # It listens on "localhost"; this name resolves to the loopback address here.
        server = cls(f"http://127.0.0.1:{port}", process, config)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"csc-dummy exited with {process.returncode}: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{server.url}/info", timeout=1.0).status_code == 200:
                    return server
            except httpx.HTTPError:
                time.sleep(0.1)
        server.stop()
        raise RuntimeError("csc-dummy not answering after 30 s")

    def certificate(self, label: str) -> x509.Certificate:
        """A certificate of the test PKI, as the CSC server hands it out."""
        answer = httpx.post(f"{self.url}/csc/v1/credentials/info",
                            json={"credentialID": f"{ARCHITECTURE}/{label}", "certificates": "single"}, timeout=5.0)
        answer.raise_for_status()
        return x509.load_der_x509_certificate(base64.b64decode(answer.json()["cert"]["certificates"][0]))

    def key(self, label: str) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key((self.config.parent / "keys" / f"{label}.key.pem").read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class TimestampServer:
    """RFC 3161 over HTTP on loopback, answered by the project's own TimestampAuthority with a test
    PKI's timestamp certificate and key (certomancer-csc-dummy serves timestamps only through the
    CSC API, which pyHanko does not call)."""

    def __init__(self, authority: TimestampAuthority) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                answer = authority.respond(self.rfile.read(int(self.headers.get("content-length", 0))))
                self.send_response(200)
                self.send_header("content-type", REPLY_CONTENT_TYPE)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/tsr"

    @classmethod
    def of_csc(cls, csc: CscServer) -> TimestampServer:
        """With the CSC test PKI's timestamp authority."""
        return cls(TimestampAuthority(pki.der(csc.certificate("tsa")), csc.key("tsa"),
                                      chain=(pki.der(csc.certificate("interm")),)))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
