"""The csc signing backend with every service a real process and the CSC server
(certomancer-csc-dummy) too: an approval that names no deciding official (an officer client on
a standard without roles) is refused by signatures for good, and submissions records why
instead of asking again. (Approvals naming the official come with the officials' work in
submissions; signing itself is covered in tests/api/signatures/test_csc_signing.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from simpul.signatures import pki
from tests.e2e.conftest import start_system
from tests.e2e.test_submissions import approved
from tests.support.csc import CREDENTIAL_TEMPLATE, CscServer, Official, TimestampServer
from tests.support.processes import System

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[System]:
    directory = tmp_path_factory.mktemp("csc-system")
    csc = CscServer.start(directory / "csc", [Official("198703152010121001", "Budi Santoso")])
    tsa = TimestampServer(csc)
    roots = directory / "csc-roots.pem"
    roots.write_bytes(pki.pem(csc.certificate("root")))
    try:
        (directory / "system").mkdir()
        running, databases = start_system(directory / "system", extra_env={
            "SIMPUL_SIGNATURES_SIGNING_BACKEND": "csc",
            "SIMPUL_SIGNATURES_CSC_URL": csc.url,
            "SIMPUL_SIGNATURES_CSC_CREDENTIAL_ID": CREDENTIAL_TEMPLATE,
            "SIMPUL_SIGNATURES_CSC_TRUST_ROOTS": str(roots),
            "SIMPUL_SIGNATURES_TSA_URL": tsa.url,
        })
        try:
            yield running
        finally:
            running.stop()
            asyncio.run(databases.drop_all())
    finally:
        tsa.stop()
        csc.stop()


def test_an_approval_without_an_official_is_refused_for_good_and_shown(people, published):
    sid = approved(people, published)
    deadline = time.monotonic() + 30
    while "issuing" not in (current := people["officer"].get(f"/v1/submissions/{sid}").json()):
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    assert current["status"] == "approved" and current["issued_documents"] == []
    assert current["issuing"]["status"] == "failed", current["issuing"]
    assert "422" in current["issuing"]["reason"] and "official" in current["issuing"]["reason"]
