"""Migrations run once per deployment, as real processes: every service's `migrate` command run
twice at once on one fresh database (PostgreSQL with SIMPUL_TEST_POSTGRES, else SQLite files),
then a replica started with SIMPUL_MIGRATE_ON_START=0 serves on the migrated database and
refuses one that was not migrated."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from tests.support.databases import TestDatabases as Databases
from tests.support.processes import ALL_SERVICES, ServiceProcess, System, env_name

pytestmark = pytest.mark.e2e


@pytest.fixture
def deployment(tmp_path):
    databases = Databases(tmp_path)
    system = System(tmp_path, databases, extra_env={"SIMPUL_DEMO": "0"})
    env = system.base_env()
    for name in ALL_SERVICES:
        if databases.server is not None:
            env[env_name(name, "DATABASE_URL")] = asyncio.run(databases.url(name))
    yield system, env
    for process in system.processes.values():
        process.stop()
    asyncio.run(databases.drop_all())


def test_migrators_started_at_once_all_succeed_and_replicas_start_without_migrating(deployment, tmp_path):
    system, env = deployment
    migrators = [
        (name, subprocess.Popen([sys.executable, "-m", f"simpul.{name}", "migrate"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for name in ALL_SERVICES for _ in range(2)
    ]
    outcomes = [(name, process.wait(180), process.stdout.read()) for name, process in migrators]
    assert [(name, code) for name, code, _ in outcomes] == [(name, 0) for name, _ in migrators], outcomes

    replica_env = {**env, "SIMPUL_MIGRATE_ON_START": "0"}
    catalog = ServiceProcess("catalog", system.ports["catalog"], replica_env, tmp_path / "catalog.log")
    system.processes["catalog"] = catalog
    catalog.start()
    catalog.wait_ready()


def test_a_replica_that_does_not_migrate_refuses_a_database_never_migrated(deployment, tmp_path):
    _, env = deployment
    started = subprocess.run([sys.executable, "-m", "simpul.submissions"], capture_output=True, text=True,
                             env={**env, "SIMPUL_MIGRATE_ON_START": "0"}, timeout=120)
    assert started.returncode != 0
    assert "run `python -m simpul.submissions migrate` first" in started.stderr
