"""What a served process holds when idle (issue 11: the five together <= 500 MB RSS): each
service's process, as `python -m simpul.<service>` builds it and `serve` prepares it, has not
imported the libraries only some requests, a migration or a signing worker need."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Loaded on demand elsewhere: Alembic/Mako in the migration's child, pyHanko/fontTools/qrcode in
# signatures' workers, fpdf2/Pillow with submissions' first receipt, holidays with its first
# deadline, aio-pika only with a broker, limits and redis only with SIMPUL_REDIS_URL; httpx's
# command-line client (rich, pygments) never
# (click stays: uvicorn imports it).
NOT_AT_IDLE = ("alembic", "mako", "pyhanko", "pyhanko_certvalidator", "fontTools", "qrcode", "fpdf", "PIL",
               "aio_pika", "rich", "pygments", "holidays", "limits", "redis")

SERVICES = {
    "gateway": "GatewaySettings",
    "catalog": "CatalogSettings",
    "submissions": "SubmissionsSettings",
    "signatures": "SignaturesSettings",
    "notifications": "NotificationsSettings",
}

PROBE = """
import asyncio, json, sys
from simpul.shared.serve import migrate_in_child
from simpul.{service}.app import create_app
from simpul.{service}.settings import {settings}
from sqlalchemy import text

app = create_app({settings}())
migrate_in_child(app.state.migration)

async def started():
    async with app.router.lifespan_context(app):
        async with app.state.migration.engine.connect() as connection:
            return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()

revision = asyncio.run(started())
print(json.dumps({{"revision": revision, "loaded": sorted({{name.split(".")[0] for name in sys.modules}})}}))
"""


@pytest.mark.parametrize("service", SERVICES)
def test_a_started_service_has_migrated_without_loading_what_idle_does_not_need(service, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
    # SIMPUL_METRICS_PORT=0: the gateway's scrape listener must not need the default port a `make run` holds.
    env.update(SIMPUL_DATA_DIR=str(tmp_path), SIMPUL_INTERNAL_SECRET="s" * 40, SIMPUL_DEMO="0", SIMPUL_METRICS_PORT="0")
    result = subprocess.run([sys.executable, "-c", PROBE.format(service=service, settings=SERVICES[service])],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["revision"]  # the child's migration reached the database the server uses
    assert sorted(set(NOT_AT_IDLE) & set(outcome["loaded"])) == []
