"""Real processes on loopback ports: the end-to-end suite starts the services as `make run` does."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.databases import TestDatabases

ALL_SERVICES = ("gateway", "catalog", "submissions", "signatures", "notifications")

ADMIN_CLIENT_ID = "e2e-admin"
ADMIN_CLIENT_SECRET = "e2e-admin-secret-" + secrets.token_hex(8)


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports for processes a test starts.

    A port is free between this call and the moment the process binds it, so it is taken below
    the kernel's ephemeral range (which hands ports out to every `bind(0)` and every outgoing
    connection of the tests running beside this one) and claimed in a directory every pytest
    process of this machine checks, so two test workers never hand out the same one."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(*_PORT_RANGE)
        if port not in chosen and _bindable(port) and _claim(port):
            chosen.append(port)
    return chosen


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_EPHEMERAL_LOW = _ephemeral_low()
_PORT_RANGE = (max(1024, _EPHEMERAL_LOW - 12000), _EPHEMERAL_LOW)
# Fixed, not under TMPDIR: every pytest process of the machine must see the same claims.
_CLAIMS = Path("/tmp/simpul-test-ports")
# A process a test starts binds its port within seconds; a claim older than this is spent.
_CLAIM_SECONDS = 600


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _claim(port: int) -> bool:
    _CLAIMS.mkdir(exist_ok=True)
    claim = _CLAIMS / str(port)
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        try:
            if time.time() - claim.stat().st_mtime < _CLAIM_SECONDS:
                return False
            claim.unlink()
        except FileNotFoundError:
            pass
        return _claim(port)


def free_port() -> int:
    return free_ports(1)[0]


def wait_for_answer(process: subprocess.Popen | None, url: str, name: str, log_tail: Callable[[], str],
                    timeout: float, accept: Callable[[httpx.Response], bool] = lambda response: True) -> None:
    """Until the started `process` answers `url` with a response `accept`s; its log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_tail()}")
        try:
            if accept(httpx.get(url, timeout=1.0)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} not answering after {timeout} s:\n{log_tail()}")


def env_name(service: str, what: str) -> str:
    return f"SIMPUL_{service.upper()}_{what}"


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing after we return
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"simpul.{self.name}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 60.0, path: str = "/readyz") -> None:
        """Until `path` answers 200 (`/healthz` for a process whose dependencies won't all come)."""
        wait_for_answer(self.process, f"{self.url}{path}", self.name, self.log_tail, timeout,
                        accept=lambda response: response.status_code == 200)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, as in a crash."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_ready()

    def crash_and_restart(self) -> None:
        """SIGKILL, then start again as a supervisor would, and wait until it is ready."""
        self.kill()
        self.start()
        self.wait_ready()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class System:
    """The five services (or some of them) wired together the way `make run` wires them."""

    directory: Path
    databases: TestDatabases
    services: tuple[str, ...] = ALL_SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)
    # Settings of one service only: service name -> variables.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        *ports, self.metrics_port = free_ports(len(ALL_SERVICES) + 1)
        self.ports = dict(zip(ALL_SERVICES, ports, strict=True))
        self.internal_secret = secrets.token_urlsafe(32)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def gateway_metrics_url(self) -> str:
        """The gateway's scrape address (its public port answers 404 for /metrics)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
        env.update(
            {
                "SIMPUL_DATA_DIR": str(self.directory / "var"),
                "SIMPUL_INTERNAL_SECRET": self.internal_secret,
                "SIMPUL_PUBLIC_URL": self.gateway_url,
                "SIMPUL_ADMIN_CLIENT_ID": ADMIN_CLIENT_ID,
                "SIMPUL_ADMIN_CLIENT_SECRET": ADMIN_CLIENT_SECRET,
                "SIMPUL_WEBHOOK_ALLOW_LOOPBACK": "1",
                "SIMPUL_DEMO": "1",
                "SIMPUL_LOG_LEVEL": "warning",
            }
        )
        for name, port in self.ports.items():
            env[env_name(name, "URL")] = f"http://127.0.0.1:{port}"
            env[env_name(name, "PORT")] = str(port)
        env["SIMPUL_METRICS_PORT"] = str(self.metrics_port)
        env.update(self.extra_env)
        return env

    def start(self) -> System:
        env = self.base_env()
        for name in self.services:
            service_env = {**env, **self.service_env.get(name, {})}
            if self.databases.server is not None:
                service_env[env_name(name, "DATABASE_URL")] = asyncio.run(self.databases.url(name))
            process = ServiceProcess(name, self.ports[name], service_env, self.directory / f"{name}.log")
            self.processes[name] = process
            process.start()
        for name, process in self.processes.items():
            # A gateway without all four services is never ready (503 naming those missing).
            partial_gateway = name == "gateway" and set(self.services) != set(ALL_SERVICES)
            process.wait_ready(path="/healthz" if partial_gateway else "/readyz")
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def logs(self) -> str:
        return "\n\n".join(f"== {name}\n{process.log_tail()}" for name, process in self.processes.items())
