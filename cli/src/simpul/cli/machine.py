"""What the local commands need of the services' configuration, read from the same `SIMPUL_*`
environment the services read (the common part through simpul.shared's settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simpul.shared.settings import BaseServiceSettings

SERVICES = ("gateway", "catalog", "submissions", "signatures", "notifications")


@dataclass(frozen=True)
class Database:
    service: str
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def is_postgresql(self) -> bool:
        return self.url.startswith("postgresql")

    @property
    def sqlite_path(self) -> Path:
        # sqlite+aiosqlite:///absolute/path (four slashes) or ///relative/path
        return Path(self.url.split(":///", 1)[1].split("?", 1)[0])

    @property
    def libpq_url(self) -> str:
        """The URL as pg_dump and pg_restore take it: without SQLAlchemy's driver name."""
        scheme, rest = self.url.split("://", 1)
        return f"{scheme.split('+', 1)[0]}://{rest}"


def _plain(error: Any) -> str:
    message = error["msg"].removeprefix("Value error, ")
    variable = "SIMPUL_" + ".".join(map(str, error["loc"])).upper()
    # The settings' own validators name the variable already.
    return message if message.startswith("SIMPUL_") else f"{variable}: {message}"


class Machine:
    """One machine's Simpul configuration."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        # Empty variables mean "the default", as docker-compose passes unset ones.
        present = {key: value for key, value in self.environ.items() if value != ""}
        try:
            self.settings = BaseServiceSettings(_env_file=None, **{
                name: present[f"SIMPUL_{name.upper()}"] for name in BaseServiceSettings.model_fields
                if f"SIMPUL_{name.upper()}" in present})
        except ValidationError as exc:
            raise ValueError("invalid settings: " + "; ".join(
                _plain(error) for error in exc.errors(include_url=False, include_input=False))) from None

    def get(self, name: str) -> str | None:
        return self.environ.get(name) or None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def database(self, service: str) -> Database:
        url = self.get(f"SIMPUL_{service.upper()}_DATABASE_URL")
        if url is None:
            url = f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
        return Database(service, url)

    def databases(self) -> list[Database]:
        return [self.database(service) for service in SERVICES]

    def run_service_command(self, service: str, *command: str) -> subprocess.CompletedProcess[str]:
        """`python -m simpul.<service> <command>` with this configuration; output captured."""
        return subprocess.run([sys.executable, "-m", f"simpul.{service}", *command], env=self.environ,
                              capture_output=True, text=True)
