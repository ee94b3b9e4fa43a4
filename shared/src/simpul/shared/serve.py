"""A service's command line: `python -m simpul.<service>` serves it under uvicorn,
`python -m simpul.<service> migrate` applies its migrations and exits; a service may add
commands of its own (`main`'s `commands`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, TypeVar

import uvicorn
from uvicorn.main import STARTUP_FAILURE
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from simpul.shared.audit import verify_audit_command
from simpul.shared.db import Migration, SchemaNotCurrent
from simpul.shared.httpheaders import bounded_head_protocol
from simpul.shared.logs import configure_logging
from simpul.shared.settings import BaseServiceSettings
from simpul.shared.worker import describe_failure

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


# A command gets the service's settings and the arguments after its name; it returns the
# process's exit status.
Command = Callable[[BaseServiceSettings, list[str]], int]
USAGE_ERROR = 2


def main(create_app: Callable[[BaseServiceSettings], FastAPI], settings_class: type[BaseServiceSettings],
         commands: Mapping[str, Command] | None = None, argv: list[str] | None = None) -> None:
    """Every service's `__main__`: no argument serves, a first argument names a command."""
    # Databases, keys, uploads and mail files hold personal data and secrets: readable by this
    # user alone (0600 files, 0700 directories), whatever the umask the process was started with.
    os.umask(0o077)
    args = sys.argv[1:] if argv is None else argv
    program = f"python -m simpul.{settings_class.service_name}"
    known: dict[str, Command] = {**without_arguments({"migrate": migrate_command(create_app),
                                                      "verify-audit": verify_audit_command(create_app)}),
                                 **(commands or {})}
    if args and args[0] not in known:
        print(f"usage: {program} [{' | '.join(known)}]\nunknown command: {args[0]}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)
    settings = load_settings(settings_class)
    configure_logging(settings.log_level, settings.log_format)
    if not args:
        serve(create_app(settings), settings.host, settings.port, settings.log_level,
              max_header_bytes=settings.max_header_bytes)
        return
    raise SystemExit(known[args[0]](settings, args[1:]))


def without_arguments(commands: Mapping[str, Callable[[Any], int]]) -> dict[str, Command]:
    """Commands of the settings alone: an argument after the name is a usage error."""

    def checked(name: str, command: Callable[[Any], int]) -> Command:
        def run(settings: BaseServiceSettings, args: list[str]) -> int:
            if args:
                print(f"usage: python -m simpul.{settings.service_name} {name} (no arguments)", file=sys.stderr)
                return USAGE_ERROR
            return command(settings)

        return run

    return {name: checked(name, command) for name, command in commands.items()}


def migrate_command(create_app: Callable[[BaseServiceSettings], FastAPI]) -> Callable[[BaseServiceSettings], int]:
    """`migrate`: bring the service's database to the newest schema, whatever
    SIMPUL_MIGRATE_ON_START says, and exit (the Kubernetes Job, or a step before N replicas)."""

    def run(settings: BaseServiceSettings) -> int:
        migration = create_app(settings).state.migration
        migration.apply = True
        try:
            asyncio.run(_run_and_close(migration))
        except Exception as exc:  # the operator gets one line, not a traceback
            # SQLAlchemy's errors go on with the statement and a link on lines of their own.
            reason = describe_failure(exc).splitlines()[0]
            print(f"simpul.{settings.service_name} migrate failed: {reason}", file=sys.stderr)
            return 1
        log.info("%s: database at the newest schema", settings.service_name)
        return 0

    return run


# How long uvicorn keeps an idle connection open (its default, said here because callers that
# keep connections to a service must drop theirs sooner: nginx's upstream keepalive_timeout, the
# gateway's pools). A caller reusing a connection the service is closing sees it fail.
KEEPALIVE_SECONDS = 5


def serve(app: FastAPI, host: str, port: int, log_level: str = "info", *, max_header_bytes: int) -> None:
    """Serves `app` under uvicorn, with the logging `configure_logging` set up (uvicorn's own
    lines go through it too) and request heads bounded to `max_header_bytes`."""
    migrate_in_child(app.state.migration)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=bounded_head_protocol(max_header_bytes, app.state.default_language),
        log_level=log_level,
        log_config=None,
        # The access log is simpul.access (logs.AccessLogMiddleware), with route and identity.
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # No service speaks WebSocket: uvicorn need not load (or answer) the protocol.
        ws="none",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEPALIVE_SECONDS,
    )
    server = SecondTickServer(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class SecondTickServer(uvicorn.Server):
    """uvicorn's server, woken once a second instead of ten times (its Date header changes once a
    second anyway): an idle process's ticks were a measurable share of an idle deployment's CPU,
    which grows with its replicas (bench/README.md). A stop signal still ends the wait at once."""

    async def main_loop(self) -> None:
        loop = asyncio.get_running_loop()
        self._exit_requested = asyncio.Event()
        self._loop = loop
        # uvicorn updates the Date header on ticks that are multiples of 10.
        should_exit = await self.on_tick(0)
        while not should_exit:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._exit_requested.wait()
            should_exit = await self.on_tick(0)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._exit_requested.set)


def migrate_in_child(migration: Migration) -> None:
    """Run the migrations (or, with SIMPUL_MIGRATE_ON_START=0, the check that the database is at
    their head) in a forked child and mark them done, so the served process never imports
    Alembic and Mako (~10 MB of every service's idle memory). Forked before uvicorn starts: no
    event loop and no thread exists yet, and the engine has no connection to share."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            asyncio.run(_run_and_close(migration))
            code = 0
        except SchemaNotCurrent as exc:
            log.error("%s", exc)
        except BaseException:
            log.exception("migrations failed")
        finally:
            logging.shutdown()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("the database is not ready; the service does not start (see the log above)")
    migration.done = True


async def _run_and_close(migration: Migration) -> None:
    try:
        await migration.run()
    finally:
        await migration.engine.dispose()
