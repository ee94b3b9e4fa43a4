"""An S3 API on loopback: moto's standalone server as a child process (no real S3 server can be
installed on this machine), and a fresh bucket per test."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import free_port

# moto checks no signature; any key pair signs requests it accepts.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "simpul-test", "AWS_SECRET_ACCESS_KEY": "simpul-test-secret"}
REGION = "us-east-1"


@dataclass
class MotoServer:
    endpoint_url: str
    process: subprocess.Popen

    @classmethod
    def start(cls, log_path: Path) -> MotoServer:
        port = free_port()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        server = cls(f"http://127.0.0.1:{port}", process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                httpx.get(f"{server.endpoint_url}/moto-api/", timeout=1.0)
                return server
            except httpx.HTTPError:
                time.sleep(0.1)
        server.stop()
        raise RuntimeError("moto server not answering after 30 s")

    def create_bucket(self) -> str:
        name = f"simpul-{secrets.token_hex(6)}"
        httpx.put(f"{self.endpoint_url}/{name}", timeout=5.0).raise_for_status()
        return name

    def objects(self, bucket: str) -> list[str]:
        """The keys in `bucket` (the ListObjectsV2 answer read for its keys only)."""
        answer = httpx.get(f"{self.endpoint_url}/{bucket}?list-type=2", timeout=5.0)
        answer.raise_for_status()
        return [part.split("</Key>")[0] for part in answer.text.split("<Key>")[1:]]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@dataclass(frozen=True)
class S3Bucket:
    server: MotoServer
    name: str

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    def url(self, prefix: str = "files") -> str:
        return f"s3://{self.name}/{prefix}"

    def keys(self) -> list[str]:
        return self.server.objects(self.name)

    def env(self, service: str, prefix: str = "files") -> dict[str, str]:
        """What a service process needs to keep its files in this bucket."""
        return {
            f"SIMPUL_{service.upper()}_STORAGE_URL": self.url(prefix),
            "SIMPUL_S3_ENDPOINT_URL": self.endpoint_url,
            "SIMPUL_S3_REGION": REGION,
            **CREDENTIALS,
        }
