"""`simpul check`: what is wrong with this machine's configuration, one line per finding.
A `problem` fails the check (exit 1); a `note` is worth knowing and fails nothing."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from simpul.cli.machine import SERVICES, Machine

# The gateway's development defaults (printed by `make run`); the CLI may not import the gateway.
DEV_ADMIN_CLIENT_SECRET = "simpul-dev-secret"
# docker-compose.yml's placeholders: the internal secret and key passphrase, database passwords.
DEV_SECRET_PREFIX = "change-me"
DEV_PASSWORD_SUFFIX = "-dev"
HEALTH_TIMEOUT = httpx.Timeout(3.0)


@dataclass(frozen=True)
class Finding:
    level: Literal["ok", "note", "problem"]
    text: str

    def __str__(self) -> str:
        return f"{self.level:<7} {self.text}"


def check(machine: Machine, transport: httpx.BaseTransport | None = None) -> list[Finding]:
    findings = reachability(machine, transport)
    findings += secrets_in_use(machine)
    findings += permissions(machine)
    if production_looking(machine):
        findings += development_settings(machine)
    return findings


def production_looking(machine: Machine) -> bool:
    """A public URL other people reach: not a loopback address or localhost."""
    host = urlsplit(machine.settings.public_url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ip_address(host).is_loopback
    except ValueError:
        return True


def reachability(machine: Machine, transport: httpx.BaseTransport | None) -> list[Finding]:
    findings = []
    with httpx.Client(timeout=HEALTH_TIMEOUT, transport=transport) as http:
        for service in SERVICES:
            for url in machine.settings.replica_urls(service):
                try:
                    answer = http.get(f"{url}/healthz")
                except httpx.HTTPError as exc:
                    findings.append(Finding("problem", f"{service} at {url} is unreachable ({type(exc).__name__})"))
                    continue
                if answer.status_code == 200:
                    findings.append(Finding("ok", f"{service} at {url} answers"))
                else:
                    findings.append(Finding("problem", f"{service} at {url} answers /healthz with {answer.status_code}"))
    return findings


def secrets_in_use(machine: Machine) -> list[Finding]:
    findings = []
    admin_secret = machine.get("SIMPUL_ADMIN_CLIENT_SECRET")
    if admin_secret is None or admin_secret == DEV_ADMIN_CLIENT_SECRET:
        findings.append(Finding("problem", "the development admin secret is in use: set SIMPUL_ADMIN_CLIENT_ID and "
                                           "SIMPUL_ADMIN_CLIENT_SECRET"))
    for variable in ("SIMPUL_INTERNAL_SECRET", "SIMPUL_SIGNATURES_KEY_PASSPHRASE"):
        if (machine.get(variable) or "").startswith(DEV_SECRET_PREFIX):
            findings.append(Finding("problem", f"{variable} is docker-compose's placeholder: set a random one"))
    for database in machine.databases():
        password = urlsplit(database.url).password if database.is_postgresql else None
        if password is not None and password.endswith(DEV_PASSWORD_SUFFIX):
            findings.append(Finding("problem", f"the {database.service} database password is docker-compose's "
                                               f"development one: set SIMPUL_{database.service.upper()}_DB_PASSWORD"))
    if machine.get("SIMPUL_SIGNATURES_PKCS12_DIR") is None:
        findings.append(Finding("note", "documents are signed by the development PKI (SIMPUL_SIGNATURES_PKCS12_DIR "
                                        "unset): verifiers trust them only with /v1/pki/ca"))
    if machine.get("SIMPUL_KEY_ENCRYPTION_KEY") is None and machine.get("SIMPUL_KEY_ENCRYPTION_KEY_FILE") is None:
        findings.append(Finding("note", f"key-encryption keys are generated files under {machine.data_dir / 'secrets'}, "
                                        "beside the keys they wrap (and in every backup): SIMPUL_KEY_ENCRYPTION_KEY "
                                        "or _FILE keeps them apart"))
    return findings


def _mode_problem(path: Path, what: str) -> Finding | None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Finding("problem", f"{what} {path} is open to other users (mode {mode:04o}): chmod go-rwx {path}")
    return None


def permissions(machine: Machine) -> list[Finding]:
    data_dir = machine.data_dir
    if not data_dir.exists():
        return [Finding("note", f"the data dir {data_dir} does not exist yet (made at the first start)")]
    findings = [_mode_problem(data_dir, "the data dir")]
    for database in machine.databases():
        if database.is_sqlite and database.sqlite_path.exists():
            findings.append(_mode_problem(database.sqlite_path, f"the {database.service} database"))
    secrets_dir = data_dir / "secrets"
    if secrets_dir.is_dir():
        findings.append(_mode_problem(secrets_dir, "the secrets dir"))
        findings += [_mode_problem(path, "the key file") for path in sorted(secrets_dir.iterdir()) if path.is_file()]
    found = [finding for finding in findings if finding is not None]
    return found or [Finding("ok", f"the data dir {data_dir} and its databases and keys are this user's alone")]


def development_settings(machine: Machine) -> list[Finding]:
    """Settings made for a developer's machine, in a setup others reach (a non-loopback public URL)."""
    findings = []
    public_url = machine.settings.public_url
    if urlsplit(public_url).scheme != "https":
        findings.append(Finding("problem", f"SIMPUL_PUBLIC_URL {public_url} is not https: put TLS in front "
                                           "(docs/operations.md)"))
    if machine.get("SIMPUL_WEBHOOK_ALLOW_LOOPBACK") in ("1", "true", "yes"):
        findings.append(Finding("problem", "SIMPUL_WEBHOOK_ALLOW_LOOPBACK=1 lets webhooks reach internal addresses"))
    if machine.get("SIMPUL_DEMO") in ("1", "true", "yes"):
        findings.append(Finding("problem", "SIMPUL_DEMO=1 loads the demo catalogue"))
    if machine.get("SIMPUL_SMTP_HOST") is None:
        findings.append(Finding("problem", "SIMPUL_SMTP_HOST is unset: mail goes to a folder, nobody receives it"))
    if machine.get("SIMPUL_SIGNATURES_PKCS12_DIR") is None:
        findings.append(Finding("problem", "the development PKI signs issued documents: set "
                                           "SIMPUL_SIGNATURES_PKCS12_DIR (docs/signing.md)"))
    if any(database.is_sqlite for database in machine.databases()):
        findings.append(Finding("note", "SQLite databases: one machine, one replica of each service"))
    return findings
