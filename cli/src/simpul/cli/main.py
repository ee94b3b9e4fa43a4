"""The `simpul` command: thin click commands over api.py, catalogue.py, check.py, backup.py and
the services' own commands."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from simpul.cli.api import AdminApi, ApiError
from simpul.cli.backup import BackupError, create_backup, restore_backup
from simpul.cli.catalogue import export_catalogue, import_catalogue, read_export
from simpul.cli.check import check as check_machine
from simpul.cli.machine import SERVICES, Machine

# The API's roles (shared/API.md), named here since the CLI may not import the gateway; the
# gateway checks them again.
OFFICIAL_ROLES = ("verifier", "reviewer", "signer", "treasurer")
# The services with a key-encryption key of their own (keys or webhook secrets sealed in their database).
KEY_HOLDERS = ("gateway", "signatures", "notifications")


@click.group()
@click.option("--url", envvar="SIMPUL_URL", default="http://127.0.0.1:8000", show_default=True,
              help="The gateway (env SIMPUL_URL).")
@click.option("--client-id", envvar="SIMPUL_ADMIN_CLIENT_ID", help="An admin API client (env SIMPUL_ADMIN_CLIENT_ID).")
@click.option("--client-secret", envvar="SIMPUL_ADMIN_CLIENT_SECRET",
              help="Its secret (env SIMPUL_ADMIN_CLIENT_SECRET; an option shows in the process list).")
@click.pass_context
def cli(context: click.Context, url: str, client_id: str | None, client_secret: str | None) -> None:
    """Simpul's operator commands. `clients`, `officials` and `catalogue` work through the gateway's
    API as an admin client; `migrate`, `check`, `backup`, `restore` and `rotate` work on this
    machine's files with the services' SIMPUL_* configuration."""
    # Keys, archives and restored files hold secrets and personal data: this user's alone.
    os.umask(0o077)
    context.ensure_object(dict)
    context.obj.update(url=url, client_id=client_id, client_secret=client_secret)


@contextmanager
def admin_api(context: click.Context) -> Iterator[AdminApi]:
    settings = context.obj
    if not settings["client_id"] or not settings["client_secret"]:
        raise click.UsageError("an admin client is needed: SIMPUL_ADMIN_CLIENT_ID and SIMPUL_ADMIN_CLIENT_SECRET "
                               "(or --client-id / --client-secret)")
    api = AdminApi(settings["url"], settings["client_id"], settings["client_secret"], settings.get("transport"))
    try:
        yield api
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        api.close()


def machine_of(context: click.Context) -> Machine:
    try:
        return context.obj.get("machine") or Machine()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def echo_rows(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """Tab-separated, one line per item, headed by the column names (for people and for cut/awk)."""
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join("-" if row.get(column) is None else
                             ",".join(row[column]) if isinstance(row[column], list) else str(row[column])
                             for column in columns))


# -- API clients ---------------------------------------------------------------------------------


@cli.group()
def clients() -> None:
    """API clients of the gateway."""


@clients.command("create")
@click.option("--name", required=True, help="Who the client is.")
@click.option("--role", required=True, type=click.Choice(["applicant", "officer", "admin"]))
@click.option("--tenant", help="applicant: a region code (31, 16.71); officer: its unit code (KDN-BH).")
@click.pass_context
def create_client(context: click.Context, name: str, role: str, tenant: str | None) -> None:
    """Create a client; its secret is shown this once."""
    with admin_api(context) as api:
        created = api.call("POST", "/v1/admin/clients", json={"name": name, "role": role, "tenant": tenant})
    click.echo(f"client_id\t{created['client_id']}\nclient_secret\t{created['client_secret']}")


@clients.command("list")
@click.pass_context
def list_clients(context: click.Context) -> None:
    """Every client, active and revoked."""
    with admin_api(context) as api:
        rows = list(api.every("/v1/admin/clients"))
    echo_rows(rows, ("client_id", "name", "role", "tenant", "status", "created_at"))


@clients.command("revoke")
@click.argument("client_id")
@click.pass_context
def revoke_client(context: click.Context, client_id: str) -> None:
    """Revoke a client at once (its tokens stop working)."""
    with admin_api(context) as api:
        api.call("DELETE", f"/v1/admin/clients/{client_id}")
    click.echo(f"revoked {client_id}")


# -- officials -----------------------------------------------------------------------------------


@cli.group()
def officials() -> None:
    """Officials of the ministry units (the gateway's registry)."""


@officials.command("create")
@click.option("--unit", required=True, help="The unit, e.g. KDN-BH.")
@click.option("--nip", required=True, help="NIP, 18 digits.")
@click.option("--name", required=True, help="Full name with titles, as signed.")
@click.option("--position", required=True, help="Position (jabatan).")
@click.option("--role", "roles", required=True, multiple=True, type=click.Choice(OFFICIAL_ROLES),
              help="Repeat for several roles.")
@click.option("--email", help="Where dispositions are mailed.")
@click.pass_context
def create_official(context: click.Context, unit: str, nip: str, name: str, position: str, roles: tuple[str, ...],
                    email: str | None) -> None:
    """Register an official of a unit."""
    body = {"unit": unit, "nip": nip, "name": name, "position": position, "roles": list(roles), "email": email}
    with admin_api(context) as api:
        created = api.call("POST", "/v1/officials", json=body)
    click.echo(f"official {created['id']} ({created['nip']}, {created['unit']})")


@officials.command("list")
@click.option("--unit", help="Only this unit's officials.")
@click.option("--active/--inactive", default=None, help="Only active or only deactivated officials.")
@click.pass_context
def list_officials(context: click.Context, unit: str | None, active: bool | None) -> None:
    """Officials, every unit's unless --unit."""
    params = {key: value for key, value in {"unit": unit, "active": active}.items() if value is not None}
    with admin_api(context) as api:
        rows = list(api.every("/v1/officials", params))
    echo_rows(rows, ("id", "unit", "nip", "name", "position", "roles", "active"))


# -- catalogue -----------------------------------------------------------------------------------


@cli.group()
def catalogue() -> None:
    """The catalogue of service standards, to and from a JSON file."""


@catalogue.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def export_command(context: click.Context, file: Path) -> None:
    """Write every service's current version and status to FILE ('-': standard output)."""
    with admin_api(context) as api:
        content = export_catalogue(api)
    text = json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    if str(file) == "-":
        click.echo(text, nl=False)
    else:
        file.write_text(text)
        click.echo(f"exported {len(content['services'])} service(s) to {file}", err=True)


@catalogue.command("import")
@click.argument("file", type=click.File("r"))
@click.pass_context
def import_command(context: click.Context, file: Any) -> None:
    """Create the services of FILE (an export) that do not exist yet, with their status."""
    try:
        services = read_export(json.load(file))
    except ValueError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from None
    with admin_api(context) as api:
        failed = import_catalogue(api, services, click.echo)
    if failed:
        raise click.ClickException(f"{failed} of {len(services)} service(s) not imported")


# -- on this machine -------------------------------------------------------------------------------


@cli.command()
@click.pass_context
def migrate(context: click.Context) -> None:
    """Bring every service's database to its newest schema (`python -m simpul.<service> migrate`)."""
    machine = machine_of(context)
    failed = []
    for service in SERVICES:
        result = machine.run_service_command(service, "migrate")
        if result.returncode == 0:
            click.echo(f"{service}: at the newest schema")
        else:
            failed.append(service)
            reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
            click.echo(f"{service}: failed: {reason}", err=True)
    if failed:
        raise click.ClickException(f"migration failed for {', '.join(failed)}")


@cli.command()
@click.pass_context
def check(context: click.Context) -> None:
    """Check the configuration: services reachable, no development secret or key, the data dir
    and databases private, no development setting where the public URL is not loopback."""
    findings = check_machine(machine_of(context), context.obj.get("transport"))
    for finding in findings:
        click.echo(str(finding))
    problems = sum(finding.level == "problem" for finding in findings)
    if problems:
        raise click.ClickException(f"{problems} problem(s)")


@cli.command()
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup(context: click.Context, archive: Path) -> None:
    """Write the databases, stored files and keys to ARCHIVE (.tar.gz), consistent while running."""
    try:
        manifest = create_backup(machine_of(context), archive, click.echo)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup {archive}: {len(manifest['members'])} member(s), checksums in its manifest.json")


@cli.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def restore(context: click.Context, archive: Path) -> None:
    """Restore ARCHIVE into an empty data dir (and the configured PostgreSQL databases); the
    services stay stopped meanwhile. A damaged or mismatched archive is refused whole."""
    try:
        manifest = restore_backup(machine_of(context), archive, click.echo)
    except BackupError as exc:
        raise click.ClickException(f"not restored: {exc}") from None
    click.echo(f"restored the backup of {manifest['created_at']}")


@cli.group()
def rotate() -> None:
    """Key rotation, by the services' own commands."""


def run_service_commands(context: click.Context, services: tuple[str, ...], command: str) -> None:
    machine = machine_of(context)
    for service in services:
        result = machine.run_service_command(service, command)
        output = (result.stdout.strip() or result.stderr.strip()).splitlines()
        if result.returncode != 0:
            raise click.ClickException(f"{service} {command} failed: {output[-1] if output else result.returncode}")
        click.echo(f"{service}: {output[-1] if output else 'done'}")


@rotate.command("signing-key")
@click.pass_context
def rotate_signing_key(context: click.Context) -> None:
    """A new token signing key at the gateway; the old one verifies until its tokens expire."""
    run_service_commands(context, ("gateway",), "rotate-signing-key")


@rotate.command("key-encryption-key")
@click.option("--service", "services", multiple=True, type=click.Choice(KEY_HOLDERS),
              help="Only this service (repeatable); default all three.")
@click.pass_context
def rotate_key_encryption_key(context: click.Context, services: tuple[str, ...]) -> None:
    """Re-wrap the sealed private keys under the current key-encryption key (a generated one
    is replaced; for one you manage give "new,old" first, then "new")."""
    run_service_commands(context, services or KEY_HOLDERS, "rotate-key-encryption-key")
