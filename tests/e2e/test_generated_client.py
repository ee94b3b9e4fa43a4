"""The contract as an integrator uses it: the running gateway's /openapi.json passes
openapi-spec-validator and the contract's lint, and a client generated from it by
openapi-python-client (into this test's tmp dir, at test time) drives the README's whole journey:
token, clients, create, upload, submit, review, approve, issued, download the PDF, verify it by
id and by upload, survey, complaint.

The generator is told to hand PDF and certificate answers out as bytes (`content_type_overrides`):
it only knows application/octet-stream for binary bodies, and the document says what the server
really sends."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.openapi_lint import lint
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.shared_system  # see tests/e2e/conftest.py

SERVICE = "REKOM-PINJAMAN-DAERAH"
REGION = "16.71"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
GENERATOR_CONFIG = """\
package_name_override: simpul_client
post_hooks: []
content_type_overrides:
  application/pdf: application/octet-stream
  application/x-pem-file: application/octet-stream
  application/pkix-cert: application/octet-stream
  application/pkix-crl: application/octet-stream
"""


@pytest.fixture(scope="module")
def document(system) -> dict:
    response = httpx.get(f"{system.gateway_url}/openapi.json", timeout=30)
    assert response.status_code == 200
    served = response.json()
    assert "x-simpul-missing" not in served, served["x-simpul-missing"]
    return served


@pytest.fixture(scope="module")
def generated(document, tmp_path_factory):
    """The generated package, imported from the tmp dir it was generated into."""
    directory = tmp_path_factory.mktemp("generated")
    (directory / "openapi.json").write_text(json.dumps(document))
    (directory / "config.yml").write_text(GENERATOR_CONFIG)
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(directory / "openapi.json"),
            "--config",
            str(directory / "config.yml"),
            "--meta",
            "none",
            "--output-path",
            str(directory / "simpul_client"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every operation is generated: a warning means one was left out or half-made.
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module("simpul_client")
    finally:
        sys.path.remove(str(directory))
        for name in [name for name in sys.modules if name == "simpul_client" or name.startswith("simpul_client.")]:
            del sys.modules[name]


def test_the_served_document_is_valid_openapi_and_passes_the_contract_lint(document):
    validate(document)
    assert lint(document) == []


def load(package: str, *names: str):
    return [importlib.import_module(f"simpul_client.{package}.{name}") for name in names]


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.parsed


def test_a_generated_client_drives_the_whole_journey(system, document, generated):
    models = importlib.import_module("simpul_client.models")
    types = importlib.import_module("simpul_client.types")
    (create_token,) = load("api.identity", "create_token")
    (create_client,) = load("api.admin", "create_client")
    (get_service,) = load("api.catalogue", "get_service")
    create_submission, upload_document, submit_submission, get_submission, act_on_submission, history = load(
        "api.submissions",
        "create_submission",
        "upload_document",
        "submit_submission",
        "get_submission",
        "act_on_submission",
        "get_submission_history",
    )
    (track_submission,) = load("api.tracking", "track_submission")
    get_document, get_document_content, get_document_history = load(
        "api.documents", "get_document", "get_document_content", "get_document_history"
    )
    verify_document, verify_upload = load("api.verification", "verify_document", "verify_upload")
    (give_survey,) = load("api.surveys", "give_survey")
    (file_complaint,) = load("api.complaints", "file_complaint")
    (get_ikm_report,) = load("api.reports", "get_ikm_report")

    anonymous = generated.Client(
        base_url=system.gateway_url, raise_on_unexpected_status=True, timeout=httpx.Timeout(60)
    )

    def token(client_id: str, secret: str):
        issued = ok(
            create_token.sync_detailed(
                client=anonymous,
                body=models.CreateTokenBody(
                    grant_type=models.CreateTokenBodyGrantType.CLIENT_CREDENTIALS,
                    client_id=client_id,
                    client_secret=secret,
                ),
            )
        )
        return generated.AuthenticatedClient(
            base_url=system.gateway_url,
            token=issued.access_token,
            raise_on_unexpected_status=True,
            timeout=httpx.Timeout(60),
        )

    admin = token(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    service = ok(get_service.sync_detailed(code=SERVICE, client=anonymous))
    required = [requirement.code for requirement in service.requirements if requirement.required]
    assert required

    def new_client(role, tenant: str):
        created = ok(
            create_client.sync_detailed(
                client=admin,
                idempotency_key=str(uuid.uuid4()),
                body=models.ClientCreate(name=f"Generated client {role.value}", role=role, tenant=tenant),
            ),
            201,
        )
        return token(created.client_id, created.client_secret)

    applicant = new_client(models.ClientCreateRole.APPLICANT, REGION)
    officer = new_client(models.ClientCreateRole.OFFICER, service.unit)

    # The document's own example of a submission: it is the demo service's valid data.
    example = document["components"]["schemas"]["SubmissionCreate"]["examples"][0]
    assert example["service_code"] == SERVICE
    draft = ok(
        create_submission.sync_detailed(
            client=applicant, idempotency_key=str(uuid.uuid4()), body=models.SubmissionCreate.from_dict(example)
        ),
        201,
    )
    for code in required:
        pdf = f"%PDF-1.4\n% {code}\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".encode()
        uploaded = ok(
            upload_document.sync_detailed(
                submission_id=draft.id,
                client=applicant,
                body=models.UploadDocumentBody(
                    requirement_code=code,
                    file=types.File(payload=io.BytesIO(pdf), file_name=f"{code}.pdf", mime_type="application/pdf"),
                ),
            ),
            201,
        )
        assert uploaded.size == len(pdf)
    submitted = ok(submit_submission.sync_detailed(submission_id=draft.id, client=applicant))
    assert submitted.status.value == "submitted" and submitted.receipt is not None
    assert (
        ok(track_submission.sync_detailed(tracking_code=draft.tracking_code, client=anonymous)).status.value
        == "submitted"
    )

    for action, note in (
        (models.ActionInAction.START_REVIEW, None),
        (models.ActionInAction.APPROVE, "Persyaratan lengkap dan DSCR memenuhi."),
    ):
        acted = ok(
            act_on_submission.sync_detailed(
                submission_id=draft.id, client=officer, body=models.ActionIn(action=action, note=note)
            )
        )
    assert acted.status.value in ("approved", "issued")

    deadline = time.monotonic() + 60
    while (
        current := ok(get_submission.sync_detailed(submission_id=draft.id, client=applicant))
    ).status.value != "issued":
        assert time.monotonic() < deadline, current.status
        time.sleep(0.5)
    document_id = current.issued_documents[0].document_id

    # The signatures service writes these answers itself: the generated models check their shape.
    metadata = ok(get_document.sync_detailed(document_id=document_id, client=applicant))
    assert metadata.status.value == "issued" and metadata.submission_id == draft.id
    events = ok(get_document_history.sync_detailed(document_id=document_id, client=applicant)).items
    assert [event.action.value for event in events] == ["issued"]
    downloaded = ok(get_document_content.sync_detailed(document_id=document_id, client=applicant))
    pdf = downloaded.payload.read()
    assert pdf.startswith(b"%PDF-")

    by_id = ok(verify_document.sync_detailed(document_id=document_id, client=anonymous))
    assert by_id.valid is True and by_id.service_code == SERVICE
    by_upload = ok(
        verify_upload.sync_detailed(
            client=anonymous,
            body=models.VerifyUploadBody(
                file=types.File(payload=io.BytesIO(pdf), file_name="issued.pdf", mime_type="application/pdf")
            ),
        )
    )
    assert by_upload.valid is True and by_upload.document.document_id == document_id

    # The history a generated client once failed to read ('create' was not in its enum).
    actions = [
        entry.action.value for entry in ok(history.sync_detailed(submission_id=draft.id, client=applicant)).items
    ]
    assert actions[0] == "create" and "upload_document" in actions and actions[-1] == "issue"

    ok(
        give_survey.sync_detailed(
            submission_id=draft.id,
            client=applicant,
            body=models.SurveyIn(
                requirements=4,
                procedure=3,
                timeliness=3,
                cost=4,
                product=3,
                competence=4,
                behaviour=4,
                complaint_handling=3,
                facilities=3,
            ),
        ),
        201,
    )
    complaint = ok(
        file_complaint.sync_detailed(
            client=applicant,
            idempotency_key=str(uuid.uuid4()),
            body=models.ComplaintCreate(
                category=models.ComplaintCreateCategory.TIMELINESS,
                submission_id=draft.id,
                text="Mohon informasi jadwal penyerahan surat asli.",
            ),
        ),
        201,
    )
    assert complaint.status.value == "open"

    year = time.gmtime().tm_year
    report = ok(
        get_ikm_report.sync_detailed(client=anonymous, service_code=SERVICE, from_=f"{year}-01-01", to=f"{year}-12-31")
    )
    assert report.respondents >= 1
