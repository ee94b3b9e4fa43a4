"""Run one service under uvicorn: `python -m simpul.<service>`."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from simpul.shared.db import Migration

log = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """The process's settings from its environment; a bad value stops the process with one line
    per problem (e.g. the variable and entry of a malformed replica list), not a traceback."""
    try:
        return settings_class()
    except ValidationError as exc:
        problems = "; ".join(_plain(error) for error in exc.errors(include_url=False, include_input=False))
        raise SystemExit(f"simpul: invalid settings: {problems}") from None


def _plain(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if message.startswith("SIMPUL_"):
        return message
    # A field read through an alias is named by it already (SIMPUL_GATEWAY_PORT).
    field = ".".join(str(part) for part in error["loc"]).upper()
    return f"{field if field.startswith('SIMPUL_') else 'SIMPUL_' + field}: {message}"


def serve(app: FastAPI, host: str, port: int, log_level: str = "info") -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    migrate_in_child(app.state.migration)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # No service speaks WebSocket: uvicorn need not load (or answer) the protocol.
        ws="none",
        timeout_graceful_shutdown=10,
    )


def migrate_in_child(migration: Migration) -> None:
    """Run the migrations in a forked child and mark them done, so the served process never
    imports Alembic and Mako (~10 MB of every service's idle memory). Forked before uvicorn
    starts: no event loop and no thread exists yet, and the engine has no connection to share."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            asyncio.run(_migrate_and_close(migration))
            code = 0
        except BaseException:
            log.exception("migrations failed")
        finally:
            logging.shutdown()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("migrations failed; the service does not start (see the log above)")
    migration.done = True


async def _migrate_and_close(migration: Migration) -> None:
    try:
        await migration.run()
    finally:
        await migration.engine.dispose()
