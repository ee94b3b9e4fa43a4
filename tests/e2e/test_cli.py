"""`.venv/bin/simpul` as a real process against real systems of five processes: clients made,
used and revoked; a catalogue exported and imported into a fresh system; a running SQLite system
backed up, restored into an empty directory and started from it; check on its data dir."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_system
from tests.e2e.test_foundation import service_body
from tests.e2e.test_submissions import approved
from tests.support import databases as test_databases
from tests.support.api import PublicApi, once_issued
from tests.support.processes import System

SIMPUL = Path(sys.executable).parent / "simpul"
# Fields the catalogue sets itself: differ between two systems holding the same standard.
SERVER_FIELDS = {"version", "created_at", "updated_at", "published_at", "retired_at", "superseded_by"}


def simpul(system: System, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, with the system's configuration as an operator's shell has it."""
    return subprocess.run([str(SIMPUL), *args], env={**system.base_env(), "SIMPUL_URL": system.gateway_url, **(env or {})},
                          capture_output=True, text=True, timeout=120)


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def sqlite_only() -> Iterator[None]:
    """The backup of a running SQLite system is what this module tests, on either leg of the suite."""
    server = os.environ.pop(test_databases.POSTGRES_ENV, None)
    yield
    if server is not None:
        os.environ[test_databases.POSTGRES_ENV] = server


@pytest.fixture(scope="module")
def running(tmp_path_factory, sqlite_only) -> Iterator[System]:
    system, databases = start_system(tmp_path_factory.mktemp("cli-system"))
    yield system
    system.stop()
    asyncio.run(databases.drop_all())


@pytest.fixture(scope="module")
def api(running) -> Iterator[PublicApi]:
    public = PublicApi(running.gateway_url)
    yield public
    public.close()


def client_from(output: str) -> tuple[str, str]:
    fields = dict(line.split("\t", 1) for line in output.splitlines())
    return fields["client_id"], fields["client_secret"]


def test_a_client_made_by_the_cli_works_until_the_cli_revokes_it(running, api):
    client_id, secret = client_from(succeeded(simpul(running, "clients", "create", "--name", "Kota Bogor",
                                                     "--role", "applicant", "--tenant", "32.71")))
    applicant = api.as_client(client_id, secret)
    assert applicant.get("/v1/submissions").status_code == 200
    listed = succeeded(simpul(running, "clients", "list"))
    assert f"{client_id}\tKota Bogor\tapplicant\t32.71\tactive\t" in listed

    assert succeeded(simpul(running, "clients", "revoke", client_id)) == f"revoked {client_id}\n"
    assert applicant.get("/v1/submissions").status_code == 401
    assert f"{client_id}\tKota Bogor\tapplicant\t32.71\trevoked\t" in succeeded(simpul(running, "clients", "list"))
    again = simpul(running, "clients", "revoke", "no-such-client")
    assert again.returncode == 1 and again.stderr.startswith("Error: 404 ")
    wrong = simpul(running, "clients", "list", env={"SIMPUL_ADMIN_CLIENT_SECRET": "not-the-secret"})
    assert wrong.returncode == 1 and wrong.stderr.startswith("Error: 401 ")


def test_officials_registered_and_listed(running):
    nip = "198507122010011003"
    created = succeeded(simpul(running, "officials", "create", "--unit", "KDN-CLI", "--nip", nip, "--name",
                               "Dr. Rina Wulandari, M.Si.", "--position", "Direktur", "--role", "signer"))
    assert f"({nip}, KDN-CLI)" in created
    listed = succeeded(simpul(running, "officials", "list", "--unit", "KDN-CLI")).splitlines()
    assert listed[0] == "id\tunit\tnip\tname\tposition\troles\tactive"
    assert [line.split("\t")[2:] for line in listed[1:]] == [[nip, "Dr. Rina Wulandari, M.Si.", "Direktur", "signer",
                                                              "True"]]


def comparable(document: dict) -> dict:
    return {name: value for name, value in document.items() if name not in SERVER_FIELDS}


def test_a_catalogue_exported_then_imported_into_a_fresh_system(running, api, tmp_path):
    admin = api.as_client(*running_admin(running))
    code = f"CLI-{uuid.uuid4().hex[:6].upper()}"
    assert admin.post("/v1/services", json=service_body(code, "KDN-CLI")).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    draft = f"CLI-{uuid.uuid4().hex[:6].upper()}"
    assert admin.post("/v1/services", json=service_body(draft, "KDN-CLI")).status_code == 201
    exported = tmp_path / "catalogue.json"
    succeeded(simpul(running, "catalogue", "export", str(exported)))
    codes = [entry["standard"]["code"] for entry in json.loads(exported.read_text())["services"]]
    assert code in codes and draft in codes and len(codes) >= 5  # the demo catalogue's too

    (tmp_path / "fresh").mkdir()
    fresh, databases = start_system(tmp_path / "fresh", extra_env={"SIMPUL_DEMO": "0"})
    try:
        report = succeeded(simpul(fresh, "catalogue", "import", str(exported)))
        assert f"{code}: imported (published)\n" in report and f"{draft}: imported (draft)\n" in report
        fresh_admin = PublicApi(fresh.gateway_url).as_client(*running_admin(fresh))
        for each in codes:
            assert comparable(fresh_admin.get(f"/v1/services/{each}").json()) == \
                comparable(admin.get(f"/v1/services/{each}").json())
        # Imported twice: nothing changes, each code is named as existing.
        again = succeeded(simpul(fresh, "catalogue", "import", str(exported)))
        assert again.count("exists already, left as it is") == len(codes)
    finally:
        fresh.stop()
        asyncio.run(databases.drop_all())


def running_admin(system: System) -> tuple[str, str]:
    env = system.base_env()
    return env["SIMPUL_ADMIN_CLIENT_ID"], env["SIMPUL_ADMIN_CLIENT_SECRET"]


def issued_submission(api: PublicApi, admin: httpx.Client) -> tuple[dict, dict]:
    """A submission of its own service, issued: the applicant's view of it, and its signed PDF's entry."""
    published = {"code": f"BAK-{uuid.uuid4().hex[:6].upper()}", "unit": f"BAK-{uuid.uuid4().hex[:4].upper()}"}
    assert admin.post("/v1/services", json=service_body(published["code"], published["unit"])).status_code == 201
    assert admin.post(f"/v1/services/{published['code']}/publish").status_code == 200
    people = {"applicant": api.client_for(admin, "applicant", "33.74"),
              "officer": api.client_for(admin, "officer", published["unit"])}
    issued = once_issued(people["applicant"], approved(people, published))
    return issued, issued["issued_documents"][0]


def test_backup_of_a_running_system_restored_into_an_empty_dir_serves_the_same(running, api, tmp_path):
    admin = api.as_client(*running_admin(running))
    submission, document = issued_submission(api, admin)
    pdf = admin.get(f"/v1/documents/{document['document_id']}/content")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    archive = tmp_path / "simpul-backup.tar.gz"
    report = succeeded(simpul(running, "backup", str(archive)))
    assert "database submissions (sqlite)" in report and "checksums in its manifest.json" in report

    (tmp_path / "restored").mkdir()
    restored = System(tmp_path / "restored", test_databases.TestDatabases(tmp_path / "restored"))
    restored_env = {"SIMPUL_DATA_DIR": str(restored.directory / "var")}
    assert succeeded(simpul(running, "restore", str(archive), env=restored_env)).endswith(
        "restored the backup of " + json.loads(_manifest(archive))["created_at"] + "\n")
    # A second restore over it is refused, and leaves it as it is.
    over = simpul(running, "restore", str(archive), env=restored_env)
    assert over.returncode == 1 and "is not empty" in over.stderr

    # The module's last test: the original system stops for good, the restored one takes its place.
    running.stop()
    try:
        restored.start()
        restored_api = PublicApi(restored.gateway_url)
        restored_admin = restored_api.as_client(*running_admin(restored))
        found = restored_admin.get(f"/v1/submissions/{submission['id']}").json()
        assert {key: found[key] for key in ("tracking_code", "status", "issued_documents")} == \
            {key: submission[key] for key in ("tracking_code", "status", "issued_documents")}
        verified = restored_api.http.get(f"/v1/verify/{document['document_id']}").json()
        assert verified["valid"] is True and verified["revoked"] is False
        same_pdf = restored_admin.get(f"/v1/documents/{document['document_id']}/content")
        assert same_pdf.content == pdf.content
        checked = restored_api.http.post("/v1/verify", files={"file": ("document.pdf", pdf.content, "application/pdf")})
        assert checked.status_code == 200 and checked.json()["valid"] is True, checked.text

        assert succeeded(simpul(restored, "check")).count("problem") == 0
        os.chmod(restored.directory / "var", 0o755)
        world_readable = simpul(restored, "check")
        assert world_readable.returncode == 1
        assert f"problem the data dir {restored.directory / 'var'} is open to other users (mode 0755)" \
            in world_readable.stdout
        assert world_readable.stderr == "Error: 1 problem(s)\n"
    finally:
        restored.stop()


def _manifest(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        return tar.extractfile("manifest.json").read().decode()
