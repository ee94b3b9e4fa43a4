"""N copies of every service on loopback, each caller given every copy's address in the
comma-separated SIMPUL_<SERVICE>_URL lists, and a real nginx in front of the gateways when there
are several: the e2e cluster test and the whole-system bench start the same deployment."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio

from tests.support.databases import TestDatabases
from tests.support.nginx import Nginx
from tests.support.processes import ALL_SERVICES, ServiceProcess, System, env_name, free_ports


@dataclass
class Replicated:
    system: System  # the first copy of every service
    replicas: dict[str, list[ServiceProcess]]
    nginx: Nginx | None  # only in front of two gateways or more

    @property
    def url(self) -> str:
        """Where a client reaches the system."""
        return self.nginx.url if self.nginx is not None else self.system.gateway_url

    def logs(self) -> str:
        extra = "".join(f"\n\n== {process.log_path.name}\n{process.log_tail()}"
                        for copies in self.replicas.values() for process in copies[1:])
        proxy = f"\n\n== nginx\n{self.nginx.log_tail()}" if self.nginx is not None else ""
        return f"{self.system.logs()}{extra}{proxy}"


def start_replicated(directory: Path, databases: TestDatabases, copies: dict[str, int], env: dict[str, str],
                     stack: ExitStack) -> Replicated:
    """Starts copies[name] processes of every service (one database per service, shared by its
    copies) and waits until all are ready; `stack` stops them. The caller drops the databases."""
    env = dict(env)
    # Every copy's port is known before the first starts: each caller is given all of them.
    ports = {name: free_ports(copies[name]) for name in ALL_SERVICES}
    for name in ALL_SERVICES:
        env[env_name(name, "URL")] = ",".join(f"http://127.0.0.1:{port}" for port in ports[name])
    system = System(directory, databases, extra_env=env)
    system.ports = {name: ports[name][0] for name in ALL_SERVICES}
    stack.callback(system.stop)
    system.start()
    replicas = {name: [system[name]] for name in ALL_SERVICES}
    # Later copies start once the first is ready: they find its signing keys and PKI.
    for name in ALL_SERVICES:
        first = system[name]
        for number, port in enumerate(ports[name][1:], 2):
            # A gateway's /metrics listens apart from its public port: any free one for a copy.
            copy_env = {**first.env, env_name(name, "PORT"): str(port), "SIMPUL_METRICS_PORT": "0"}
            copy = ServiceProcess(name, port, copy_env, directory / f"{name}-{number}.log")
            replicas[name].append(copy)
            stack.callback(copy.stop)
            copy.start()
    for processes in replicas.values():
        for copy in processes[1:]:
            copy.wait_ready()
    nginx = None
    if len(replicas["gateway"]) > 1:
        nginx = Nginx(directory / "nginx", [gateway.url for gateway in replicas["gateway"]])
        nginx.start()
        stack.callback(nginx.stop)
    return Replicated(system, replicas, nginx)


def redis_env(stack: ExitStack, server: str, owner: str = "test-cluster") -> dict[str, str]:
    """The gateways' Redis settings with a key prefix of this run's own, its keys deleted after."""
    prefix = f"{owner}-{uuid.uuid4().hex[:12]}"
    stack.callback(lambda: asyncio.run(forget_keys(server, prefix)))
    return {"SIMPUL_REDIS_URL": server, "SIMPUL_REDIS_PREFIX": prefix}


async def forget_keys(server: str, prefix: str) -> None:
    client = redis.asyncio.from_url(server)
    try:
        async for key in client.scan_iter(match=f"*{prefix}*"):
            await client.delete(key)
    finally:
        await client.aclose()
